//! Counters behind `INFO stats` and `INFO commandstats`.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Default, Clone, Copy)]
pub struct CallStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub total_error_replies: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub blocked_clients: u64,
    pub commands: HashMap<&'static str, CallStats, ahash::RandomState>,
    /// Samples of (unix ms, commands processed) for `instantaneous_ops_per_sec`.
    ops_samples: Vec<(i64, u64)>,
    pub instantaneous_ops_per_sec: u64,
}

impl Stats {
    pub fn record_call(&mut self, name: &'static str, elapsed: Duration) {
        let s = self.commands.entry(name).or_default();
        s.calls += 1;
        s.usec += elapsed.as_micros() as u64;
    }

    /// Called by the cron: keeps a sliding window of samples for the ops/sec figure.
    pub fn cron(&mut self, now_ms: i64) {
        if self
            .ops_samples
            .last()
            .is_some_and(|(t, _)| now_ms - t < 100)
        {
            return;
        }
        self.ops_samples
            .push((now_ms, self.total_commands_processed));
        if self.ops_samples.len() > 16 {
            self.ops_samples.remove(0);
        }
        if let (Some(first), Some(last)) = (self.ops_samples.first(), self.ops_samples.last()) {
            let dt = (last.0 - first.0).max(1) as u64;
            self.instantaneous_ops_per_sec = (last.1 - first.1) * 1000 / dt;
        }
    }

    pub fn reset(&mut self) {
        let blocked = self.blocked_clients;
        *self = Stats::default();
        self.blocked_clients = blocked;
    }
}
