//! `maxmemory` eviction: approximated LRU/LFU by sampling, as Redis does.
//!
//! The access field of an [`Entry`](crate::keyspace::Entry) holds either the LRU clock
//! (seconds) or, under an LFU policy, `minutes << 8 | counter` where `counter` is Redis's
//! logarithmic access counter (new keys start at 5) and `minutes` is the 16-bit time of its
//! last decay.
//!
//! [`Keyspace::evict_one`] samples `maxmemory-samples` candidates per database and removes the
//! best according to the policy. The node calls it in a loop until memory is under the limit
//! (or nothing is evictable, which makes the write fail with `-OOM`).

use bytes::Bytes;
use rand::Rng;

use crate::config::EvictionPolicy;
use crate::keyspace::Keyspace;

const LFU_INIT_VAL: u32 = 5;

fn minutes(lru_clock_secs: u32) -> u32 {
    (lru_clock_secs / 60) & 0xFFFF
}

pub fn lfu_initial(lru_clock_secs: u32) -> u32 {
    (minutes(lru_clock_secs) << 8) | LFU_INIT_VAL
}

/// The counter after decay, without touching.
pub fn lfu_decayed(access: u32, lru_clock_secs: u32, decay_time: u32) -> u32 {
    let counter = access & 0xFF;
    let last = access >> 8;
    let now = minutes(lru_clock_secs);
    let elapsed = if now >= last {
        now - last
    } else {
        65535 - last + now
    };
    let periods = elapsed.checked_div(decay_time).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Decays then logarithmically increments the counter of an accessed key.
pub fn lfu_touch(access: u32, lru_clock_secs: u32, log_factor: u32, decay_time: u32) -> u32 {
    let mut counter = lfu_decayed(access, lru_clock_secs, decay_time);
    if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * log_factor as f64 + 1.0);
        if rand::thread_rng().gen::<f64>() < p {
            counter += 1;
        }
    }
    (minutes(lru_clock_secs) << 8) | counter
}

/// Idle seconds of an entry under an LRU policy.
pub fn lru_idle_secs(access: u32, lru_clock_secs: u32) -> u32 {
    lru_clock_secs.wrapping_sub(access)
}

/// The access word of a key given an LFU counter (RDB `FREQ`, `RESTORE ... FREQ`): the
/// counter, last decremented now (Redis's `objectSetLRUOrLFU`).
pub fn access_with_freq(lru_clock_secs: u32, freq: u8) -> u32 {
    (lfu_initial(lru_clock_secs) & !0xFF) | u32::from(freq)
}

/// The access word of a key idle for `idle_secs` (RDB `IDLE`, `RESTORE ... IDLETIME`),
/// the inverse of [`lru_idle_secs`].
pub fn access_with_idle(lru_clock_secs: u32, idle_secs: u64) -> u32 {
    lru_clock_secs.wrapping_sub(idle_secs.min(u64::from(u32::MAX)) as u32)
}

impl Keyspace {
    /// Evicts one key chosen by `maxmemory-policy`. Returns `(db, key)` of the evicted key, or
    /// `None` if the policy has no candidate (always `None` for `noeviction`).
    pub fn evict_one(&mut self, rng: &mut impl Rng) -> Option<(usize, Bytes)> {
        let policy = self.cfg.maxmemory_policy;
        if policy == EvictionPolicy::NoEviction {
            return None;
        }
        let volatile = matches!(
            policy,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        );
        let samples = self.cfg.maxmemory_samples.max(1);
        // (score: higher evicts first, db, key)
        let mut best: Option<(u64, usize, Bytes)> = None;
        for db in 0..self.dbs.len() {
            let d = &self.dbs[db];
            let pool_len = if volatile {
                d.expires.len()
            } else {
                d.map.len()
            };
            if pool_len == 0 {
                continue;
            }
            for _ in 0..samples {
                let i = rng.gen_range(0..pool_len);
                let (key, entry, expire) = if volatile {
                    let (k, &at) = d.expires.get_index(i).expect("index < len");
                    let e = d.map.get(k.as_slice()).expect("expires is a subset of map");
                    (k, e, Some(at))
                } else {
                    let (k, e) = d.map.get_index(i).expect("index < len");
                    (k, e, d.expire_of(k.as_slice(), e))
                };
                let score = match policy {
                    EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru => {
                        lru_idle_secs(entry.access, self.lru_clock) as u64
                    }
                    EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                        255 - lfu_decayed(entry.access, self.lru_clock, self.cfg.lfu_decay_time)
                            as u64
                    }
                    EvictionPolicy::VolatileTtl => {
                        u64::MAX - expire.map_or(u64::MAX, |at| at.max(0) as u64)
                    }
                    _ => rng.gen(),
                };
                if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                    best = Some((score, db, key.to_bytes()));
                }
            }
        }
        let (_, db, key) = best?;
        self.dbs[db].remove(&key);
        self.stats.evicted_keys += 1;
        self.notify(crate::notify::EVICTED, "evicted", db, &key);
        Some((db, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::value::Value;
    use rand::SeedableRng;

    #[test]
    fn lfu_counter_grows_logarithmically() {
        let mut a = lfu_initial(0);
        for _ in 0..1000 {
            a = lfu_touch(a, 0, 10, 1);
        }
        let c = a & 0xFF;
        assert!(c > 5 && c < 40, "counter {c}");
    }

    #[test]
    fn lfu_decays_per_minute() {
        let a = 20; // decay minute 0, counter 20
        assert_eq!(lfu_decayed(a, 60 * 5, 1), 15);
        assert_eq!(lfu_decayed(a, 60 * 5, 0), 20);
    }

    #[test]
    fn noeviction_evicts_nothing_and_lru_prefers_idle() {
        let mut ks = Keyspace::new(StoreConfig::default());
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        ks.set(0, b"old", Value::Str(Bytes::new()));
        assert_eq!(ks.evict_one(&mut rng), None);
        ks.cfg.maxmemory_policy = EvictionPolicy::AllKeysLru;
        ks.lru_clock = 1000;
        ks.set(0, b"new", Value::Str(Bytes::new()));
        ks.cfg.maxmemory_samples = 10;
        assert_eq!(
            ks.evict_one(&mut rng),
            Some((0, Bytes::from_static(b"old")))
        );
    }

    #[test]
    fn volatile_only_considers_keys_with_ttl() {
        let mut ks = Keyspace::new(StoreConfig::default());
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        ks.cfg.maxmemory_policy = EvictionPolicy::VolatileRandom;
        ks.set(0, b"keep", Value::Str(Bytes::new()));
        assert_eq!(ks.evict_one(&mut rng), None);
        ks.set(0, b"ttl", Value::Str(Bytes::new()));
        ks.db_mut(0).set_expire(b"ttl", Some(1 << 40));
        assert_eq!(
            ks.evict_one(&mut rng),
            Some((0, Bytes::from_static(b"ttl")))
        );
    }
}
