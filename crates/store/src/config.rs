//! The part of the node's configuration that the keyspace reads while executing commands.
//! The server's `config.rs` owns parsing, `CONFIG GET/SET` and names; it writes into this
//! struct, which commands read through `ctx.ks.cfg`.

/// Eviction policy (`maxmemory-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    #[default]
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl EvictionPolicy {
    pub const ALL: &'static [(&'static str, EvictionPolicy)] = &[
        ("noeviction", EvictionPolicy::NoEviction),
        ("allkeys-lru", EvictionPolicy::AllKeysLru),
        ("allkeys-lfu", EvictionPolicy::AllKeysLfu),
        ("allkeys-random", EvictionPolicy::AllKeysRandom),
        ("volatile-lru", EvictionPolicy::VolatileLru),
        ("volatile-lfu", EvictionPolicy::VolatileLfu),
        ("volatile-random", EvictionPolicy::VolatileRandom),
        ("volatile-ttl", EvictionPolicy::VolatileTtl),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("noeviction")
    }

    pub fn parse(s: &str) -> Option<EvictionPolicy> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, p)| *p)
    }

    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
        )
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub databases: usize,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
    pub maxmemory: u64,
    pub maxmemory_policy: EvictionPolicy,
    pub maxmemory_samples: usize,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_eviction: bool,
    pub active_expire_effort: u32,
    /// `notify-keyspace-events` as [`crate::notify`] bits.
    pub notify_keyspace_events: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            databases: 16,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            maxmemory: 0,
            maxmemory_policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_eviction: false,
            active_expire_effort: 1,
            notify_keyspace_events: 0,
        }
    }
}
