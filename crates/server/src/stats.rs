//! Counters behind `INFO stats`, `INFO commandstats` and `INFO errorstats`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::Duration;

use crate::client::IdHasher;

/// A command's name from the command tables, hashed and compared by its address: every
/// command has one `&'static str` name, so the per-call counter is found with one multiply
/// instead of hashing the name's text on every command. (Should two tables ever hold equal
/// names at different addresses, INFO merges them by name.)
#[derive(Debug, Clone, Copy)]
pub struct CmdName(pub &'static str);

impl PartialEq for CmdName {
    fn eq(&self, other: &CmdName) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for CmdName {}

impl Hash for CmdName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.as_ptr() as u64);
    }
}

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
    /// Errors this node replied where nobody reads them (to its primary's link).
    pub unexpected_error_replies: u64,
    /// Error replies by code (the error's first word): `INFO errorstats`, in byte order as
    /// Redis lists them.
    pub errors: BTreeMap<Vec<u8>, u64>,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub blocked_clients: u64,
    pub commands: HashMap<CmdName, CallStats, BuildHasherDefault<IdHasher>>,
    /// Samples of (unix ms, commands processed) for `instantaneous_ops_per_sec`.
    ops_samples: Vec<(i64, u64)>,
    pub instantaneous_ops_per_sec: u64,
}

/// Error codes `INFO errorstats` tracks at most; later new codes are not added (Redis's
/// `ERROR_STATS_NUMBER`), though they still count in `total_error_replies`.
const MAX_ERROR_CODES: usize = 128;

impl Stats {
    /// One execution of `name` (`failed`: it replied an error).
    pub fn record_call(&mut self, name: &'static str, elapsed: Duration, failed: bool) {
        let s = self.commands.entry(CmdName(name)).or_default();
        s.calls += 1;
        s.usec += elapsed.as_micros() as u64;
        s.failed += u64::from(failed);
    }

    /// `name` refused before it ran (arity, NOAUTH, OOM, MISCONF, READONLY, ...).
    pub fn record_rejected(&mut self, name: &'static str) {
        self.commands.entry(CmdName(name)).or_default().rejected += 1;
    }

    /// One error reply, `line` without the leading `-`: counted under its code, the text
    /// before the first space (as Redis, only a space within the first 31 bytes counts; an
    /// error without one counts as `ERR`).
    pub fn record_error(&mut self, line: &[u8]) {
        self.total_error_replies += 1;
        let code = match line.iter().take(31).position(|&b| b == b' ') {
            Some(end) => &line[..end],
            None => b"ERR",
        };
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_CODES {
            self.errors.insert(code.to_vec(), 1);
        }
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
