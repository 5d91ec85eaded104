//! The active expire cycle: a time-bounded sampling of keys with a TTL, as Redis's
//! `activeExpireCycle` does, so keys that are never read again still go away.
//!
//! Each call walks the `expires` set of every database from a rotating position, checking
//! up to [`KEYS_PER_LOOP`] keys per round and repeating while more than
//! [`ACCEPTABLE_STALE_PERCENT`] of a round was expired, until the time budget runs out.
//! Only primaries run it (replicas wait for the primary's `DEL`).

use std::time::{Duration, Instant};

use crate::keyspace::{ExpireMode, Keyspace};

/// Keys examined per database per round (Redis: 20 at effort 1).
pub const KEYS_PER_LOOP: usize = 20;
/// Keep going in a database while more than this share of a round was expired.
pub const ACCEPTABLE_STALE_PERCENT: usize = 10;

impl Keyspace {
    /// Runs one active expire cycle within `budget`. Returns the number of keys removed.
    pub fn active_expire_cycle(&mut self, budget: Duration) -> usize {
        if self.mode != ExpireMode::Primary {
            return 0;
        }
        let start = Instant::now();
        let effort = self.cfg.active_expire_effort.clamp(1, 10) as usize - 1;
        let per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP / 4 * effort;
        let stale_limit = ACCEPTABLE_STALE_PERCENT.saturating_sub(effort);
        let mut removed = 0;
        let (mut sampled_total, mut expired_total) = (0usize, 0usize);
        for db in 0..self.dbs.len() {
            for _round in 0..1000 {
                let n = self.dbs[db].expires.len();
                if n == 0 {
                    break;
                }
                let mut expired_now = 0;
                let mut ttl_sum: i64 = 0;
                let mut ttl_count: i64 = 0;
                let checks = per_loop.min(n);
                for _ in 0..checks {
                    let d = &mut self.dbs[db];
                    if d.expires.is_empty() {
                        break;
                    }
                    if d.expire_cursor >= d.expires.len() {
                        d.expire_cursor = 0;
                    }
                    let (key, &at) = d.expires.get_index(d.expire_cursor).expect("in range");
                    if at <= self.now_ms {
                        let key = key.clone();
                        // swap_remove moves the last key into this slot: do not advance.
                        self.delete_expired(db, key.as_slice());
                        expired_now += 1;
                    } else {
                        ttl_sum += at - self.now_ms;
                        ttl_count += 1;
                        self.dbs[db].expire_cursor += 1;
                    }
                }
                if ttl_count > 0 {
                    let avg = ttl_sum / ttl_count;
                    let d = &mut self.dbs[db];
                    d.avg_ttl = if d.avg_ttl == 0 {
                        avg
                    } else {
                        (d.avg_ttl / 50) * 49 + avg / 50
                    };
                }
                sampled_total += checks;
                expired_total += expired_now;
                removed += expired_now;
                if start.elapsed() >= budget {
                    self.stats.expired_time_cap_reached_count += 1;
                    self.update_stale(sampled_total, expired_total);
                    return removed;
                }
                if expired_now * 100 <= checks * stale_limit {
                    break;
                }
            }
        }
        self.update_stale(sampled_total, expired_total);
        removed
    }

    fn update_stale(&mut self, sampled: usize, expired: usize) {
        let current = if sampled > 0 {
            expired as f64 / sampled as f64
        } else {
            0.0
        };
        self.stats.expired_stale_perc = current * 0.05 + self.stats.expired_stale_perc * 0.95;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::value::Value;
    use bytes::Bytes;

    #[test]
    fn removes_expired_keys_without_reads() {
        let mut ks = Keyspace::new(StoreConfig::default());
        ks.now_ms = 1000;
        for i in 0..500 {
            let k = format!("k{i}");
            ks.set(0, k.as_bytes(), Value::Str(Bytes::new()));
            let at = if i % 2 == 0 { 1500 } else { 100_000 };
            ks.db_mut(0).set_expire(k.as_bytes(), Some(at));
        }
        ks.set(0, b"persistent", Value::Str(Bytes::new()));
        ks.now_ms = 2000;
        let mut total = 0;
        for _ in 0..100 {
            total += ks.active_expire_cycle(Duration::from_millis(50));
        }
        assert_eq!(total, 250);
        assert_eq!(ks.db(0).len(), 251);
        assert_eq!(ks.expired.len(), 250);
    }

    #[test]
    fn replicas_never_expire_actively() {
        let mut ks = Keyspace::new(StoreConfig::default());
        ks.set(0, b"a", Value::Str(Bytes::new()));
        ks.db_mut(0).set_expire(b"a", Some(1));
        ks.now_ms = 10;
        ks.mode = ExpireMode::ReplicaClient;
        assert_eq!(ks.active_expire_cycle(Duration::from_millis(10)), 0);
        assert_eq!(ks.db(0).len(), 1);
    }
}
