//! Configuration: every directive ferrokv implements, under Redis's names and aliases, in
//! one table that drives the config file parser, `--directive value` flags, `CONFIG GET` and
//! `CONFIG SET`.
//!
//! Values keep Redis's syntax: booleans are `yes`/`no`, memory sizes accept `1k` (1000),
//! `1kb` (1024), `m`, `mb`, `g`, `gb`, enums are case-insensitive. A directive marked
//! immutable can only be set at startup (`CONFIG SET` answers Redis's "can't set immutable
//! config").
//!
//! Deviations: `listen-ephemeral-port yes` (ferrokv-only) binds an OS-chosen free port, for
//! tests; Redis has no equivalent because `port 0` means "no TCP listener" there.
//! `replica-accept-empty-fullsync yes` (ferrokv-only, default `no`) turns off the empty
//! primary protection of `ferrokv_replica::driver`.

use std::fmt::Write as _;
use std::path::Path;

use ferrokv_store::config::{EvictionPolicy, StoreConfig};
use ferrokv_store::notify;

/// `oom-score-adj-values <primary> <replica> <background child>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomScoreAdjValues(pub [i64; 3]);

impl ConfigValue for OomScoreAdjValues {
    fn parse(s: &str, _: Kind) -> Result<Self, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.len() != 3 {
            return Err("wrong number of arguments".into());
        }
        let mut v = [0; 3];
        for (slot, p) in v.iter_mut().zip(parts) {
            *slot = p
                .parse::<i64>()
                .ok()
                .filter(|n| (-2000..=2000).contains(n))
                .ok_or("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")?;
        }
        Ok(OomScoreAdjValues(v))
    }
    fn render(&self, _: Kind) -> String {
        format!("{} {} {}", self.0[0], self.0[1], self.0[2])
    }
}

/// `notify-keyspace-events`: the event classes, parsed and shown as Redis does (the bits
/// and characters are `ferrokv_store::notify`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyspaceEvents(pub u32);

impl ConfigValue for KeyspaceEvents {
    fn parse(s: &str, _: Kind) -> Result<Self, String> {
        notify::parse_flags(s)
            .map(KeyspaceEvents)
            .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
    }
    fn render(&self, _: Kind) -> String {
        notify::format_flags(self.0)
    }
}

/// `latency-tracking-info-percentiles`: the percentiles INFO latencystats shows, each
/// within [0, 100]; `""` is none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Percentiles(pub Vec<f64>);

impl ConfigValue for Percentiles {
    fn parse(s: &str, _: Kind) -> Result<Self, String> {
        let mut out = Vec::new();
        for word in s.split_whitespace() {
            let p: f64 = word
                .parse()
                .ok()
                .filter(|p: &f64| !p.is_nan())
                .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
            if !(0.0..=100.0).contains(&p) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .into(),
                );
            }
            out.push(p);
        }
        Ok(Percentiles(out))
    }
    fn render(&self, _: Kind) -> String {
        let words: Vec<String> = self.0.iter().map(|&p| percentile_text(p)).collect();
        words.join(" ")
    }
}

/// A percentile as Redis prints it: `%f`, then trailing zeros (and the dot) trimmed.
pub fn percentile_text(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `save <seconds> <changes>` rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaveRules(pub Vec<(u64, u64)>);

/// `client-output-buffer-limit <class> <hard> <soft> <soft-seconds>` for the three classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputBufferLimits {
    /// (class, hard bytes, soft bytes, soft seconds) for normal, replica, pubsub.
    pub classes: [(&'static str, u64, u64, u64); 3],
}

impl Default for OutputBufferLimits {
    fn default() -> Self {
        OutputBufferLimits {
            classes: [
                ("normal", 0, 0, 0),
                ("slave", 256 << 20, 64 << 20, 60),
                ("pubsub", 32 << 20, 8 << 20, 60),
            ],
        }
    }
}

/// `replicaof <host> <port>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaOf(pub Option<(String, u16)>);

/// How a value is parsed, printed and validated.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    Int { min: i64, max: i64 },
    Mem { min: i64, max: i64 },
    Enum(&'static [&'static str]),
    Str,
    Special,
}

pub trait ConfigValue: Sized {
    fn parse(s: &str, kind: Kind) -> Result<Self, String>;
    fn render(&self, kind: Kind) -> String;
}

impl ConfigValue for bool {
    fn parse(s: &str, _: Kind) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err("argument must be 'yes' or 'no'".into()),
        }
    }
    fn render(&self, _: Kind) -> String {
        if *self { "yes" } else { "no" }.into()
    }
}

impl ConfigValue for i64 {
    fn parse(s: &str, kind: Kind) -> Result<Self, String> {
        let (v, min, max) = match kind {
            Kind::Int { min, max } => (
                s.parse::<i64>()
                    .map_err(|_| "argument couldn't be parsed into an integer")?,
                min,
                max,
            ),
            Kind::Mem { min, max } => (
                parse_memory(s).ok_or("argument must be a memory value")?,
                min,
                max,
            ),
            _ => return Err("bad kind".into()),
        };
        if v < min || v > max {
            return Err(format!(
                "argument must be between {min} and {max} inclusive"
            ));
        }
        Ok(v)
    }
    fn render(&self, _: Kind) -> String {
        self.to_string()
    }
}

impl ConfigValue for String {
    fn parse(s: &str, kind: Kind) -> Result<Self, String> {
        match kind {
            Kind::Enum(options) => options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(s))
                .map(|o| o.to_string())
                .ok_or_else(|| {
                    "argument(s) must be one of the following: ".to_string() + &options.join(", ")
                }),
            _ => Ok(s.to_string()),
        }
    }
    fn render(&self, _: Kind) -> String {
        self.clone()
    }
}

impl ConfigValue for SaveRules {
    fn parse(s: &str, _: Kind) -> Result<Self, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.is_empty() {
            return Ok(SaveRules(Vec::new()));
        }
        if !parts.len().is_multiple_of(2) {
            return Err("Invalid save parameters".into());
        }
        let mut rules = Vec::new();
        for pair in parts.chunks(2) {
            let secs = pair[0]
                .parse::<u64>()
                .map_err(|_| "Invalid save parameters")?;
            let changes = pair[1]
                .parse::<u64>()
                .map_err(|_| "Invalid save parameters")?;
            rules.push((secs, changes));
        }
        Ok(SaveRules(rules))
    }
    fn render(&self, _: Kind) -> String {
        let mut s = String::new();
        for (i, (secs, changes)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{secs} {changes}");
        }
        s
    }
}

impl ConfigValue for OutputBufferLimits {
    fn parse(s: &str, _: Kind) -> Result<Self, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.is_empty() || !parts.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut out = OutputBufferLimits::default();
        for chunk in parts.chunks(4) {
            let class = match chunk[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "slave" | "replica" => 1,
                "pubsub" => 2,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let hard = parse_memory(chunk[1]).filter(|v| *v >= 0);
            let soft = parse_memory(chunk[2]).filter(|v| *v >= 0);
            let secs = chunk[3].parse::<i64>().ok().filter(|v| *v >= 0);
            match (hard, soft, secs) {
                (Some(h), Some(s), Some(t)) => {
                    let name = out.classes[class].0;
                    out.classes[class] = (name, h as u64, s as u64, t as u64);
                }
                _ => return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                ),
            }
        }
        Ok(out)
    }
    fn render(&self, _: Kind) -> String {
        self.classes
            .iter()
            .map(|(c, h, s, t)| format!("{c} {h} {s} {t}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl ConfigValue for ReplicaOf {
    fn parse(s: &str, _: Kind) -> Result<Self, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        match parts.as_slice() {
            [] => Ok(ReplicaOf(None)),
            [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => {
                Ok(ReplicaOf(None))
            }
            [host, port] => {
                let port = port.parse::<u16>().map_err(|_| "Invalid master port")?;
                Ok(ReplicaOf(Some((host.to_string(), port))))
            }
            _ => Err("wrong number of arguments".into()),
        }
    }
    fn render(&self, _: Kind) -> String {
        match &self.0 {
            Some((h, p)) => format!("{h} {p}"),
            None => String::new(),
        }
    }
}

/// Parses Redis memory units: `1k` = 1000, `1kb` = 1024, likewise m/mb, g/gb; plain bytes.
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let (num, mul): (&str, i64) = [
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suffix, mul)| lower.strip_suffix(suffix).map(|n| (n, *mul)))
    .unwrap_or((lower.as_str(), 1));
    num.parse::<i64>().ok()?.checked_mul(mul)
}

pub struct Directive {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub mutable: bool,
    pub get: fn(&Config) -> String,
    pub set: fn(&mut Config, &str) -> Result<(), String>,
}

const I: i64 = i64::MAX;
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
const PROTECTED_CONFIGS: &[&str] = &["no", "yes", "local"];
const FSYNC: &[&str] = &["everysec", "always", "no"];
const DISKLESS_LOAD: &[&str] = &["disabled", "on-empty-db", "swapdb"];
const OOM_SCORE_ADJ: &[&str] = &["no", "yes", "relative", "absolute"];
const SUPERVISED: &[&str] = &["upstart", "systemd", "auto", "no"];
const PROPAGATION_ERROR: &[&str] = &["ignore", "panic", "panic-on-replicas"];
const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

macro_rules! directives {
    ($( $field:ident : $ty:ty = $default:expr, $name:literal $(| $alias:literal)*, $kind:expr, $mutable:expr; )*) => {
        /// All configuration values, typed. Field names follow the directive names.
        #[derive(Debug, Clone)]
        pub struct Config { $(pub $field: $ty,)* }

        impl Default for Config {
            fn default() -> Self {
                Config { $($field: $default,)* }
            }
        }

        pub static DIRECTIVES: &[Directive] = &[
            $(Directive {
                name: $name,
                aliases: &[$($alias),*],
                kind: $kind,
                mutable: $mutable,
                get: |c: &Config| ConfigValue::render(&c.$field, $kind),
                set: |c: &mut Config, v: &str| {
                    c.$field = <$ty as ConfigValue>::parse(v, $kind)?;
                    Ok(())
                },
            },)*
        ];
    };
}

directives! {
    port: i64 = 6379, "port", Kind::Int { min: 0, max: 65535 }, true;
    bind: String = DEFAULT_BIND.into(), "bind", Kind::Str, false;
    listen_ephemeral_port: bool = false, "listen-ephemeral-port", Kind::Bool, false;
    protected_mode: bool = true, "protected-mode", Kind::Bool, true;
    tcp_backlog: i64 = 511, "tcp-backlog", Kind::Int { min: 0, max: I }, false;
    timeout: i64 = 0, "timeout", Kind::Int { min: 0, max: I }, true;
    tcp_keepalive: i64 = 300, "tcp-keepalive", Kind::Int { min: 0, max: I }, true;
    daemonize: bool = false, "daemonize", Kind::Bool, false;
    pidfile: String = String::new(), "pidfile", Kind::Str, false;
    loglevel: String = "notice".into(), "loglevel", Kind::Enum(LOGLEVELS), true;
    logfile: String = String::new(), "logfile", Kind::Str, false;
    databases: i64 = 16, "databases", Kind::Int { min: 1, max: i32::MAX as i64 }, false;
    enable_debug_command: String = "no".into(), "enable-debug-command", Kind::Enum(PROTECTED_CONFIGS), false;
    enable_protected_configs: String = "no".into(), "enable-protected-configs", Kind::Enum(PROTECTED_CONFIGS), false;
    save: SaveRules = SaveRules(vec![(3600, 1), (300, 100), (60, 10000)]), "save", Kind::Special, true;
    stop_writes_on_bgsave_error: bool = true, "stop-writes-on-bgsave-error", Kind::Bool, true;
    rdbcompression: bool = true, "rdbcompression", Kind::Bool, true;
    rdbchecksum: bool = true, "rdbchecksum", Kind::Bool, true;
    rdb_key_save_delay: i64 = 0, "rdb-key-save-delay", Kind::Int { min: i32::MIN as i64, max: i32::MAX as i64 }, true;
    dbfilename: String = "dump.rdb".into(), "dbfilename", Kind::Str, true;
    dir: String = ".".into(), "dir", Kind::Str, true;
    requirepass: String = String::new(), "requirepass", Kind::Str, true;
    maxclients: i64 = 10000, "maxclients", Kind::Int { min: 1, max: I }, true;
    maxmemory: i64 = 0, "maxmemory", Kind::Mem { min: 0, max: I }, true;
    maxmemory_policy: String = "noeviction".into(), "maxmemory-policy", Kind::Enum(POLICIES), true;
    maxmemory_samples: i64 = 5, "maxmemory-samples", Kind::Int { min: 1, max: 64 }, true;
    lfu_log_factor: i64 = 10, "lfu-log-factor", Kind::Int { min: 0, max: I }, true;
    lfu_decay_time: i64 = 1, "lfu-decay-time", Kind::Int { min: 0, max: I }, true;
    lazyfree_lazy_eviction: bool = false, "lazyfree-lazy-eviction", Kind::Bool, true;
    lazyfree_lazy_expire: bool = false, "lazyfree-lazy-expire", Kind::Bool, true;
    lazyfree_lazy_user_del: bool = false, "lazyfree-lazy-user-del", Kind::Bool, true;
    appendonly: bool = false, "appendonly", Kind::Bool, true;
    appendfilename: String = "appendonly.aof".into(), "appendfilename", Kind::Str, false;
    appenddirname: String = "appendonlydir".into(), "appenddirname", Kind::Str, false;
    appendfsync: String = "everysec".into(), "appendfsync", Kind::Enum(FSYNC), true;
    no_appendfsync_on_rewrite: bool = false, "no-appendfsync-on-rewrite", Kind::Bool, true;
    auto_aof_rewrite_percentage: i64 = 100, "auto-aof-rewrite-percentage", Kind::Int { min: 0, max: I }, true;
    auto_aof_rewrite_min_size: i64 = 64 << 20, "auto-aof-rewrite-min-size", Kind::Mem { min: 0, max: I }, true;
    aof_load_truncated: bool = true, "aof-load-truncated", Kind::Bool, true;
    aof_use_rdb_preamble: bool = true, "aof-use-rdb-preamble", Kind::Bool, true;
    aof_timestamp_enabled: bool = false, "aof-timestamp-enabled", Kind::Bool, true;
    aof_disable_auto_gc: bool = false, "aof-disable-auto-gc", Kind::Bool, true;
    hash_max_listpack_entries: i64 = 512, "hash-max-listpack-entries" | "hash-max-ziplist-entries", Kind::Int { min: 0, max: I }, true;
    hash_max_listpack_value: i64 = 64, "hash-max-listpack-value" | "hash-max-ziplist-value", Kind::Int { min: 0, max: I }, true;
    list_max_listpack_size: i64 = -2, "list-max-listpack-size" | "list-max-ziplist-size", Kind::Int { min: i32::MIN as i64, max: i32::MAX as i64 }, true;
    list_compress_depth: i64 = 0, "list-compress-depth", Kind::Int { min: 0, max: i32::MAX as i64 }, true;
    set_max_intset_entries: i64 = 512, "set-max-intset-entries", Kind::Int { min: 0, max: I }, true;
    zset_max_listpack_entries: i64 = 128, "zset-max-listpack-entries" | "zset-max-ziplist-entries", Kind::Int { min: 0, max: I }, true;
    zset_max_listpack_value: i64 = 64, "zset-max-listpack-value" | "zset-max-ziplist-value", Kind::Int { min: 0, max: I }, true;
    proto_max_bulk_len: i64 = 512 << 20, "proto-max-bulk-len", Kind::Mem { min: 1 << 20, max: I }, true;
    client_query_buffer_limit: i64 = 1 << 30, "client-query-buffer-limit", Kind::Mem { min: 1 << 20, max: I }, true;
    client_output_buffer_limit: OutputBufferLimits = OutputBufferLimits::default(), "client-output-buffer-limit", Kind::Special, true;
    replicaof: ReplicaOf = ReplicaOf(None), "replicaof" | "slaveof", Kind::Special, false;
    masterauth: String = String::new(), "masterauth", Kind::Str, true;
    masteruser: String = String::new(), "masteruser", Kind::Str, true;
    replica_read_only: bool = true, "replica-read-only" | "slave-read-only", Kind::Bool, true;
    replica_serve_stale_data: bool = true, "replica-serve-stale-data" | "slave-serve-stale-data", Kind::Bool, true;
    replica_accept_empty_fullsync: bool = false, "replica-accept-empty-fullsync", Kind::Bool, true;
    repl_diskless_sync: bool = true, "repl-diskless-sync", Kind::Bool, true;
    repl_diskless_sync_delay: i64 = 5, "repl-diskless-sync-delay", Kind::Int { min: 0, max: I }, true;
    repl_diskless_sync_max_replicas: i64 = 0, "repl-diskless-sync-max-replicas", Kind::Int { min: 0, max: I }, true;
    repl_backlog_size: i64 = 1 << 20, "repl-backlog-size", Kind::Mem { min: 1, max: I }, true;
    repl_backlog_ttl: i64 = 3600, "repl-backlog-ttl", Kind::Int { min: 0, max: I }, true;
    repl_timeout: i64 = 60, "repl-timeout", Kind::Int { min: 1, max: I }, true;
    repl_ping_replica_period: i64 = 10, "repl-ping-replica-period" | "repl-ping-slave-period", Kind::Int { min: 1, max: I }, true;
    min_replicas_to_write: i64 = 0, "min-replicas-to-write" | "min-slaves-to-write", Kind::Int { min: 0, max: I }, true;
    min_replicas_max_lag: i64 = 10, "min-replicas-max-lag" | "min-slaves-max-lag", Kind::Int { min: 0, max: I }, true;
    replica_priority: i64 = 100, "replica-priority" | "slave-priority", Kind::Int { min: 0, max: I }, true;
    replica_announce_ip: String = String::new(), "replica-announce-ip" | "slave-announce-ip", Kind::Str, true;
    replica_announce_port: i64 = 0, "replica-announce-port" | "slave-announce-port", Kind::Int { min: 0, max: 65535 }, true;
    slowlog_log_slower_than: i64 = 10000, "slowlog-log-slower-than", Kind::Int { min: -1, max: I }, true;
    slowlog_max_len: i64 = 128, "slowlog-max-len", Kind::Int { min: 0, max: I }, true;
    latency_monitor_threshold: i64 = 0, "latency-monitor-threshold", Kind::Int { min: 0, max: I }, true;
    latency_tracking: bool = true, "latency-tracking", Kind::Bool, true;
    tracking_table_max_keys: i64 = 1000000, "tracking-table-max-keys", Kind::Int { min: 0, max: I }, true;
    latency_tracking_info_percentiles: Percentiles = Percentiles(vec![50.0, 99.0, 99.9]), "latency-tracking-info-percentiles", Kind::Special, true;
    hz: i64 = 10, "hz", Kind::Int { min: 1, max: 500 }, true;
    active_expire_effort: i64 = 1, "active-expire-effort", Kind::Int { min: 1, max: 10 }, true;
    replica_ignore_maxmemory: bool = true, "replica-ignore-maxmemory" | "slave-ignore-maxmemory", Kind::Bool, true;
    propagation_error_behavior: String = "ignore".into(), "propagation-error-behavior", Kind::Enum(PROPAGATION_ERROR), true;
    disable_thp: bool = true, "disable-thp", Kind::Bool, false;
    jemalloc_bg_thread: bool = true, "jemalloc-bg-thread", Kind::Bool, true;
    notify_keyspace_events: KeyspaceEvents = KeyspaceEvents(0), "notify-keyspace-events", Kind::Special, true;
    // Accepted with Redis's names, types and defaults so that a stock redis.conf loads, and
    // reported by CONFIG GET; they tune parts of Redis that ferrokv does differently or does
    // not have (README, "Deviations"), so they change nothing here.
    always_show_logo: bool = false, "always-show-logo", Kind::Bool, false;
    set_proc_title: bool = true, "set-proc-title", Kind::Bool, false;
    proc_title_template: String = "{title} {listen-addr} {server-mode}".into(), "proc-title-template", Kind::Str, true;
    supervised: String = "no".into(), "supervised", Kind::Enum(SUPERVISED), false;
    rdb_del_sync_files: bool = false, "rdb-del-sync-files", Kind::Bool, true;
    repl_diskless_load: String = "disabled".into(), "repl-diskless-load", Kind::Enum(DISKLESS_LOAD), true;
    repl_disable_tcp_nodelay: bool = false, "repl-disable-tcp-nodelay", Kind::Bool, true;
    acllog_max_len: i64 = 128, "acllog-max-len", Kind::Int { min: 0, max: I }, true;
    lazyfree_lazy_server_del: bool = false, "lazyfree-lazy-server-del", Kind::Bool, true;
    lazyfree_lazy_user_flush: bool = false, "lazyfree-lazy-user-flush", Kind::Bool, true;
    replica_lazy_flush: bool = false, "replica-lazy-flush" | "slave-lazy-flush", Kind::Bool, true;
    oom_score_adj: String = "no".into(), "oom-score-adj", Kind::Enum(OOM_SCORE_ADJ), true;
    oom_score_adj_values: OomScoreAdjValues = OomScoreAdjValues([0, 200, 800]), "oom-score-adj-values", Kind::Special, true;
    hll_sparse_max_bytes: i64 = 3000, "hll-sparse-max-bytes", Kind::Mem { min: 0, max: I }, true;
    stream_node_max_bytes: i64 = 4096, "stream-node-max-bytes", Kind::Mem { min: 0, max: I }, true;
    stream_node_max_entries: i64 = 100, "stream-node-max-entries", Kind::Int { min: 0, max: I }, true;
    activerehashing: bool = true, "activerehashing", Kind::Bool, true;
    dynamic_hz: bool = true, "dynamic-hz", Kind::Bool, true;
    aof_rewrite_incremental_fsync: bool = true, "aof-rewrite-incremental-fsync", Kind::Bool, true;
    rdb_save_incremental_fsync: bool = true, "rdb-save-incremental-fsync", Kind::Bool, true;
}

impl Config {
    pub fn directive(name: &str) -> Option<&'static Directive> {
        DIRECTIVES.iter().find(|d| {
            d.name.eq_ignore_ascii_case(name)
                || d.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// Sets one directive by name. Errors are the text after Redis's "CONFIG SET failed
    /// (possibly related to argument '...') - " prefix.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let d = Config::directive(name).ok_or_else(|| "Unknown option".to_string())?;
        (d.set)(self, value)
    }

    pub fn get(&self, name: &str) -> Option<String> {
        Config::directive(name).map(|d| (d.get)(self))
    }

    /// The keyspace's view of this configuration.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            databases: self.databases as usize,
            hash_max_listpack_entries: self.hash_max_listpack_entries as usize,
            hash_max_listpack_value: self.hash_max_listpack_value as usize,
            set_max_intset_entries: self.set_max_intset_entries as usize,
            zset_max_listpack_entries: self.zset_max_listpack_entries as usize,
            zset_max_listpack_value: self.zset_max_listpack_value as usize,
            list_max_listpack_size: self.list_max_listpack_size,
            list_compress_depth: self.list_compress_depth,
            maxmemory: self.maxmemory as u64,
            maxmemory_policy: EvictionPolicy::parse(&self.maxmemory_policy).unwrap_or_default(),
            maxmemory_samples: self.maxmemory_samples as usize,
            lfu_log_factor: self.lfu_log_factor as u32,
            lfu_decay_time: self.lfu_decay_time as u32,
            lazyfree_lazy_expire: self.lazyfree_lazy_expire,
            lazyfree_lazy_user_del: self.lazyfree_lazy_user_del,
            lazyfree_lazy_eviction: self.lazyfree_lazy_eviction,
            active_expire_effort: self.active_expire_effort as u32,
            notify_keyspace_events: self.notify_keyspace_events.0,
        }
    }

    /// Builds a configuration from redis-server style arguments: an optional config file
    /// path first, then `--directive value...` flags (which override the file).
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut rest = args;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first).map_err(|e| ConfigError {
                    origin: first.clone(),
                    line: 0,
                    text: String::new(),
                    reason: format!("Fatal error, can't open config file '{first}': {e}"),
                })?;
                cfg.apply_text(&text, first)?;
                rest = &args[1..];
            }
        }
        // Flags: `--name v1 v2 --other v`; values are joined like Redis joins them.
        let mut i = 0;
        while i < rest.len() {
            let Some(name) = rest[i].strip_prefix("--") else {
                return Err(ConfigError {
                    origin: "command line".into(),
                    line: 0,
                    text: rest[i].clone(),
                    reason: "Invalid argument: expected --directive".into(),
                });
            };
            let mut values = Vec::new();
            i += 1;
            while i < rest.len() && !rest[i].starts_with("--") {
                values.push(rest[i].clone());
                i += 1;
            }
            cfg.apply_line(name, &values)
                .map_err(|reason| ConfigError {
                    origin: "command line".into(),
                    line: 0,
                    text: format!("{name} {}", values.join(" ")),
                    reason,
                })?;
        }
        Ok(cfg)
    }

    /// Applies a redis.conf text. `source` names the file in errors.
    pub fn apply_text(&mut self, text: &str, source: &str) -> Result<(), ConfigError> {
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let err = |reason: String| ConfigError {
                origin: source.to_string(),
                line: n + 1,
                text: trimmed.to_string(),
                reason,
            };
            let words = split_config_line(trimmed)
                .ok_or_else(|| err("Unbalanced quotes in configuration line".into()))?;
            let Some((name, values)) = words.split_first() else {
                continue;
            };
            self.apply_line(name, values).map_err(err)?;
        }
        Ok(())
    }

    fn apply_line(&mut self, name: &str, values: &[String]) -> Result<(), String> {
        let d = Config::directive(name)
            .ok_or_else(|| "Bad directive or wrong number of arguments".to_string())?;
        if values.is_empty() {
            return Err("Bad directive or wrong number of arguments".into());
        }
        if !matches!(d.kind, Kind::Special | Kind::Str) && values.len() != 1 {
            return Err("wrong number of arguments".into());
        }
        (d.set)(self, &values.join(" "))
    }

    /// `CONFIG REWRITE`-style text: every directive whose value differs from the default.
    pub fn rewrite_text(&self) -> String {
        let default = Config::default();
        let mut out = String::new();
        for d in DIRECTIVES {
            let v = (d.get)(self);
            if v != (d.get)(&default) {
                let _ = writeln!(out, "{} {}", d.name, quote_config_value(&v, d.kind));
            }
        }
        out
    }
}

fn quote_config_value(v: &str, kind: Kind) -> String {
    match kind {
        Kind::Special if !v.is_empty() => v.to_string(),
        _ if v.is_empty() || v.contains(' ') || v.contains('"') => format!("{v:?}"),
        _ => v.to_string(),
    }
}

/// The `bind` default; protected mode only applies while it is unchanged (as in Redis 7.0).
pub const DEFAULT_BIND: &str = "* -::*";

/// What a refused connection reads before it is closed (Redis's text).
pub const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode: with `protected-mode yes`, the default `bind` and no password, only
/// loopback clients are accepted.
pub fn protected_mode_denies(cfg: &Config, peer: std::net::IpAddr) -> bool {
    cfg.protected_mode
        && cfg.bind == DEFAULT_BIND
        && cfg.requirepass.is_empty()
        && !is_loopback(peer)
}

/// Whether a protected action (`setting`: `enable-debug-command` for DEBUG,
/// `enable-protected-configs` for CONFIG SET of [`PROTECTED_DIRECTIVES`]) is refused to a
/// client at `peer`: `no` refuses it to everyone, `local` to all but loopback clients
/// (Redis's `allowProtectedAction`).
pub fn protected_action_denied(setting: &str, peer: std::net::IpAddr) -> bool {
    match setting {
        "yes" => false,
        "local" => !is_loopback(peer),
        _ => true,
    }
}

/// Testing aids CONFIG GET returns only when asked by their exact name, not through a
/// pattern (Redis's `HIDDEN_CONFIG`).
pub const HIDDEN_DIRECTIVES: &[&str] = &["rdb-key-save-delay"];

/// Directives CONFIG SET changes only as `enable-protected-configs` allows (Redis 7.0's
/// `PROTECTED_CONFIG`: where files are written).
pub const PROTECTED_DIRECTIVES: &[&str] = &["dir", "dbfilename"];

/// Redis's text for a DEBUG refused by `enable-debug-command`.
pub const DEBUG_COMMAND_DENIED: &str = "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

fn is_loopback(peer: std::net::IpAddr) -> bool {
    match peer {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Splits a config line into words as Redis does (`sdssplitargs`: `"..."` with escapes,
/// `'...'`); `None` on unbalanced quotes.
pub fn split_config_line(line: &str) -> Option<Vec<String>> {
    let words = ferrokv_proto::resp::split_args(line.as_bytes())?;
    Some(
        words
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect(),
    )
}

/// A startup configuration error, printed like Redis's "FATAL CONFIG FILE ERROR" block.
#[derive(Debug, thiserror::Error)]
#[error("\n*** FATAL CONFIG FILE ERROR (ferrokv {version}) ***\nReading the configuration file {source_name}, at line {line}\n>>> '{text}'\n{reason}", version = env!("CARGO_PKG_VERSION"), source_name = .origin)]
pub struct ConfigError {
    pub origin: String,
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// `CONFIG REWRITE`: writes the non-default directives to `path` (temp file, fsync, rename).
pub fn write_config_file(path: &Path, cfg: &Config) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-rewrite");
    std::fs::write(&tmp, cfg.rewrite_text())?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_keyspace_events_parse_and_render_as_redis() {
        let mut c = Config::default();
        for (set, shown) in [
            ("KEA", "AKE"),
            ("xgE", "gxE"),
            ("AKn", "AK"),
            ("Egn", "gnE"),
            ("KEAm", "AKEm"),
            ("m", "m"),
            ("", ""),
        ] {
            c.set("notify-keyspace-events", set).unwrap();
            assert_eq!(c.get("notify-keyspace-events").unwrap(), shown, "{set}");
        }
        c.set("notify-keyspace-events", "Egn").unwrap();
        assert_eq!(
            c.store_config().notify_keyspace_events,
            notify::KEYEVENT | notify::GENERIC | notify::NEW
        );
        let err = c.set("notify-keyspace-events", "Q").unwrap_err();
        assert!(err.contains("Invalid event class"), "{err}");
    }

    #[test]
    fn protected_actions_follow_no_yes_local() {
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let local6: std::net::IpAddr = "::1".parse().unwrap();
        let remote: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        for (setting, denied_local, denied_remote) in [
            ("no", true, true),
            ("yes", false, false),
            ("local", false, true),
        ] {
            assert_eq!(
                protected_action_denied(setting, local),
                denied_local,
                "{setting}"
            );
            assert_eq!(
                protected_action_denied(setting, local6),
                denied_local,
                "{setting}"
            );
            assert_eq!(
                protected_action_denied(setting, remote),
                denied_remote,
                "{setting}"
            );
        }
    }

    #[test]
    fn memory_units_like_redis() {
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("2MB"), Some(2 << 20));
        assert_eq!(parse_memory("1g"), Some(1_000_000_000));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn file_and_flags() {
        let dir = std::env::temp_dir().join(format!("ferrokv-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("r.conf");
        std::fs::write(
            &f,
            "# c\nport 7000\nsave \"\"\nhash-max-ziplist-entries 64\nmaxmemory 1mb\n",
        )
        .unwrap();
        let args: Vec<String> = [f.to_str().unwrap(), "--port", "7001", "--save", "60", "10"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = Config::from_args(&args).unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.save, SaveRules(vec![(60, 10)]));
        assert_eq!(c.hash_max_listpack_entries, 64);
        assert_eq!(c.maxmemory, 1 << 20);
        std::fs::write(&f, "port 7000\nbogus yes\n").unwrap();
        let err = Config::from_args(&[f.to_str().unwrap().to_string()]).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("bogus yes"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shipped_deploy_configs_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        let primary = Config::from_args(&[dir.join("primary.conf").display().to_string()]).unwrap();
        assert!(primary.save.0.is_empty());
        assert!(!primary.appendonly);
        assert_eq!(primary.min_replicas_to_write, 1);
        let replica = Config::from_args(&[dir.join("replica.conf").display().to_string()]).unwrap();
        assert!(replica.appendonly);
        assert_eq!(replica.replicaof, ReplicaOf(Some(("primary".into(), 6379))));
        assert_eq!(replica.save.0.len(), 3);
    }

    #[test]
    fn protected_mode_only_refuses_remote_clients_with_default_bind_and_no_password() {
        let remote: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let mut c = Config::default();
        assert!(protected_mode_denies(&c, remote));
        assert!(!protected_mode_denies(&c, local));
        assert!(!protected_mode_denies(&c, mapped));
        c.requirepass = "x".into();
        assert!(!protected_mode_denies(&c, remote));
        let c = Config {
            bind: "0.0.0.0".into(),
            ..Config::default()
        };
        assert!(!protected_mode_denies(&c, remote));
        let c = Config {
            protected_mode: false,
            ..Config::default()
        };
        assert!(!protected_mode_denies(&c, remote));
    }

    #[test]
    fn empty_save_disables() {
        let c = Config::from_args(&["--save".into(), "".into()]).unwrap();
        assert!(c.save.0.is_empty());
        assert_eq!(c.get("save").unwrap(), "");
    }

    #[test]
    fn aliases_and_enums() {
        let mut c = Config::default();
        c.set("slave-read-only", "no").unwrap();
        assert!(!c.replica_read_only);
        c.set("maxmemory-policy", "ALLKEYS-LRU").unwrap();
        assert_eq!(c.get("maxmemory-policy").unwrap(), "allkeys-lru");
        assert!(c.set("maxmemory-policy", "bogus").is_err());
        assert!(c.set("appendfsync", "sometimes").is_err());
    }
}
