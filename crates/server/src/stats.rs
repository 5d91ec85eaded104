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
    /// Bytes read from and written to clients, replication links excluded (INFO adds the
    /// replication bytes back: [`Stats::net_input_bytes`]).
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    /// Bytes read from our primary and written to our replicas.
    pub total_net_repl_input_bytes: u64,
    pub total_net_repl_output_bytes: u64,
    /// Time spent in the active expire cycle (`expire_cycle_cpu_milliseconds`).
    pub expire_cycle_us: u64,
    /// When `used_memory` last rose above `maxmemory` and is still there, and the total
    /// of the periods it was (`*_eviction_exceeded_time`).
    pub eviction_exceeded_since: Option<std::time::Instant>,
    pub eviction_exceeded_total: std::time::Duration,
    /// read(2) / write(2) calls on client and replica sockets that moved bytes.
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
    pub blocked_clients: u64,
    pub commands: HashMap<CmdName, CallStats, BuildHasherDefault<IdHasher>>,
    /// The `instantaneous_*` rates: commands, then bytes in, out, replication in and out.
    rates: [Rate; 5],
}

/// Redis's `trackInstantaneousMetric`: every 100 ms the rate since the previous sample goes
/// into a ring of 16, and the figure is the ring's average (so it ramps up over 1.6 s).
#[derive(Debug, Default)]
struct Rate {
    last: Option<(i64, u64)>,
    samples: [u64; 16],
    next: usize,
}

impl Rate {
    fn sample(&mut self, now_ms: i64, total: u64) {
        if let Some((t, v)) = self.last {
            let dt = (now_ms - t).max(1) as u64;
            self.samples[self.next] = total.saturating_sub(v) * 1000 / dt;
            self.next = (self.next + 1) % self.samples.len();
        }
        self.last = Some((now_ms, total));
    }

    fn per_sec(&self) -> u64 {
        self.samples.iter().sum::<u64>() / self.samples.len() as u64
    }
}

/// The `instantaneous_*` figures of INFO stats.
pub struct InstantRates {
    pub ops_per_sec: u64,
    pub input_kbps: f64,
    pub output_kbps: f64,
    pub input_repl_kbps: f64,
    pub output_repl_kbps: f64,
}

impl Stats {
    /// One execution of `name` (`failed`: it replied an error).
    pub fn record_call(&mut self, name: &'static str, elapsed: Duration, failed: bool) {
        let s = self.commands.entry(CmdName(name)).or_default();
        s.calls += 1;
        s.usec += elapsed.as_micros() as u64;
        s.failed += u64::from(failed);
    }

    /// One execution of a command that replied `reply`: its error under errorstats, its call
    /// under `name` (`None`: a command INFO does not count, e.g. an unknown subcommand).
    pub fn record_executed(
        &mut self,
        name: Option<&'static str>,
        elapsed: Duration,
        reply: &ferrokv_proto::resp::Frame,
    ) {
        let failed = if let ferrokv_proto::resp::Frame::Error(line) = reply {
            self.record_error(line);
            true
        } else {
            false
        };
        if let Some(name) = name {
            self.record_call(name, elapsed, failed);
        }
    }

    /// `name` refused before it ran (arity, NOAUTH, OOM, MISCONF, READONLY, ...).
    pub fn record_rejected(&mut self, name: &'static str) {
        self.commands.entry(CmdName(name)).or_default().rejected += 1;
    }

    /// One error reply, `line` without the leading `-`: counted under its code, the text
    /// before the first space (as Redis 7.0's `afterErrorReply`, only a space within the
    /// first 32 bytes of the reply, its `-` included, counts; an error without one counts as
    /// `ERR`).
    pub fn record_error(&mut self, line: &[u8]) {
        self.total_error_replies += 1;
        let code = match line.iter().take(31).position(|&b| b == b' ') {
            Some(end) => &line[..end],
            None => b"ERR",
        };
        // No cap on distinct codes: Redis 7.0 has none (7.2 added one), and every code
        // ferrokv replies is one of its own fixed error prefixes, never client text.
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
        } else {
            self.errors.insert(code.to_vec(), 1);
        }
    }

    /// Called by the cron: samples the instantaneous rates every 100 ms.
    pub fn cron(&mut self, now_ms: i64) {
        if self.rates[0].last.is_some_and(|(t, _)| now_ms - t < 100) {
            return;
        }
        // As in Redis 7.0, the plain input/output rates cover replication traffic too.
        let totals = [
            self.total_commands_processed,
            self.net_input_bytes(),
            self.net_output_bytes(),
            self.total_net_repl_input_bytes,
            self.total_net_repl_output_bytes,
        ];
        for (rate, total) in self.rates.iter_mut().zip(totals) {
            rate.sample(now_ms, total);
        }
    }

    /// `total_net_input_bytes` as INFO reports it: clients and replication together (Redis
    /// 7.0 sums them there and reports replication alone in `total_net_repl_input_bytes`).
    pub fn net_input_bytes(&self) -> u64 {
        self.total_net_input_bytes + self.total_net_repl_input_bytes
    }

    /// `total_net_output_bytes` as INFO reports it (see [`Stats::net_input_bytes`]).
    pub fn net_output_bytes(&self) -> u64 {
        self.total_net_output_bytes + self.total_net_repl_output_bytes
    }

    /// Notes whether memory is over `maxmemory` after an eviction round.
    pub fn note_over_maxmemory(&mut self, over: bool) {
        match (over, self.eviction_exceeded_since) {
            (true, None) => self.eviction_exceeded_since = Some(std::time::Instant::now()),
            (false, Some(since)) => {
                self.eviction_exceeded_total += since.elapsed();
                self.eviction_exceeded_since = None;
            }
            _ => {}
        }
    }

    /// (`total_eviction_exceeded_time`, `current_eviction_exceeded_time`) in milliseconds;
    /// the total includes the current period.
    pub fn eviction_exceeded_ms(&self) -> (u64, u64) {
        let current = self
            .eviction_exceeded_since
            .map_or(0, |s| s.elapsed().as_millis() as u64);
        (
            self.eviction_exceeded_total.as_millis() as u64 + current,
            current,
        )
    }

    pub fn instant_rates(&self) -> InstantRates {
        let kbps = |r: &Rate| r.per_sec() as f64 / 1024.0;
        InstantRates {
            ops_per_sec: self.rates[0].per_sec(),
            input_kbps: kbps(&self.rates[1]),
            output_kbps: kbps(&self.rates[2]),
            input_repl_kbps: kbps(&self.rates[3]),
            output_repl_kbps: kbps(&self.rates[4]),
        }
    }

    pub fn reset(&mut self) {
        let blocked = self.blocked_clients;
        *self = Stats::default();
        self.blocked_clients = blocked;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_average_sixteen_samples_like_redis() {
        let mut s = Stats::default();
        // 1,000 commands every 100 ms: 10,000/s once the ring is full.
        for i in 0..=16 {
            s.total_commands_processed = i * 1000;
            s.total_net_input_bytes = i * 1024 * 100;
            s.cron(i as i64 * 100);
            // A second call within the same 100 ms adds nothing.
            s.cron(i as i64 * 100 + 50);
        }
        let r = s.instant_rates();
        assert_eq!(r.ops_per_sec, 10_000);
        assert_eq!(r.input_kbps, 1000.0);
        assert_eq!(r.output_kbps, 0.0);
        // After 8 idle samples the average has halved.
        for i in 17..=24 {
            s.cron(i * 100);
        }
        assert_eq!(s.instant_rates().ops_per_sec, 5_000);
    }

    #[test]
    fn errors_count_by_code() {
        let mut s = Stats::default();
        s.record_error(b"ERR unknown command");
        s.record_error(b"WRONGTYPE Operation against a key");
        s.record_error(b"ERR syntax error");
        s.record_error(b"NOSPACEINTHEFIRSTTHIRTYTWOBYTESATALL x");
        assert_eq!(s.total_error_replies, 4);
        let codes: Vec<(String, u64)> = s
            .errors
            .iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), *v))
            .collect();
        assert_eq!(
            codes,
            vec![("ERR".to_string(), 3), ("WRONGTYPE".to_string(), 1)]
        );
    }
}
