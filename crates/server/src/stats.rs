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

#[derive(Debug, Default, Clone)]
pub struct CallStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Call durations, while `latency-tracking` is on (INFO latencystats, LATENCY
    /// HISTOGRAM); created at the first tracked call.
    pub latency: Option<hdrhistogram::Histogram<u64>>,
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
    /// `latency-tracking`: calls also go into their command's latency histogram.
    pub latency_tracking: bool,
    /// The `instantaneous_*` rates: commands, then bytes in, out, replication in and out.
    rates: [Rate; 5],
}

/// Redis's `trackInstantaneousMetric`: every 100 ms the rate since the previous sample
/// (`delta * 1000 / ms`, in integers) goes into a ring of 16, and the figure is the ring's
/// average, rounded down (so it ramps up over 1.6 s).
#[derive(Debug, Default)]
struct Rate {
    last: Option<(i64, u64)>,
    samples: [u64; 16],
    next: usize,
}

impl Rate {
    fn sample(&mut self, now_ms: i64, total: u64) {
        if let Some((t, v)) = self.last {
            let dt = now_ms - t;
            self.samples[self.next] = match u64::try_from(dt) {
                Ok(dt) if dt > 0 => total.saturating_sub(v) * 1000 / dt,
                _ => 0,
            };
            self.next = (self.next + 1) % self.samples.len();
        }
        self.last = Some((now_ms, total));
    }

    fn per_sec(&self) -> u64 {
        self.samples.iter().sum::<u64>() / self.samples.len() as u64
    }
}

/// Where an error reply went that nobody reads: Redis's `afterErrorReply` logs each one
/// (`== CRITICAL == This replica is sending an error to its master: ...`) and counts it in
/// `unexpected_error_replies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreadError {
    /// This replica answered a command from its primary's stream.
    ToPrimary,
    /// This primary answered a command sent by an attached replica.
    ToReplica,
    /// A command read back from the AOF at startup.
    ToAofLoader,
}

/// Redis's cap on the error text in the CRITICAL log line.
const UNREAD_ERROR_LOG_MAX: usize = 4096;

/// `ERR` messages Redis replies from shared objects or formats with their `-ERR` prefix: the
/// log shows those as `-ERR msg`, while every other `ERR` message was given to
/// `addReplyError` bare and is logged bare (`value is not an integer or out of range`).
const PREFIXED_ERR_MESSAGES: &[&str] = &[
    "no such key",
    "syntax error",
    "source and destination objects are the same",
    "index out of range",
];
const PREFIXED_ERR_STARTS: &[&str] = &["invalid longitude,latitude pair "];

impl UnreadError {
    /// (this node, the receiver) as Redis's log names them.
    fn roles(self) -> (&'static str, &'static str) {
        match self {
            UnreadError::ToPrimary => ("replica", "master"),
            UnreadError::ToReplica => ("master", "replica"),
            UnreadError::ToAofLoader => ("server", "AOF-loading-client"),
        }
    }

    /// The warning Redis 7.0 logs for error reply `line` (without its `-`) after command
    /// `cmd` (its full name, `config|set`; `None` for an unknown command or subcommand).
    ///
    /// Redis prints the error as the reply code gave it: a code other than `ERR` always
    /// comes with its `-` (`'-WRONGTYPE Operation ...'`), a plain `ERR` message without its
    /// code (`'value is not an integer or out of range'`) unless it is one of the few Redis
    /// keeps prefixed ([`PREFIXED_ERR_MESSAGES`]). The text is cut at 4096 bytes.
    pub fn log_line(self, line: &[u8], cmd: Option<&str>) -> String {
        let (from, to) = self.roles();
        let text = redis_error_text(line);
        let text = &text[..text.len().min(UNREAD_ERROR_LOG_MAX)];
        format!(
            "== CRITICAL == This {from} is sending an error to its {to}: '{}' after processing the command '{}'",
            String::from_utf8_lossy(text),
            cmd.unwrap_or("<unknown>")
        )
    }

    /// The message of the stop `propagation-error-behavior` asks for.
    pub fn panic_line(self, cmd: Option<&str>) -> String {
        let (from, to) = self.roles();
        format!(
            "This {from} panicked sending an error to its {to} after processing the command '{}'",
            cmd.unwrap_or("<unknown>")
        )
    }

    /// Whether `propagation-error-behavior` (with `replica-read-only`) stops the server:
    /// `panic` and `panic-on-replicas` on a read-only replica for its primary's stream,
    /// only `panic` for the AOF, never for errors sent to replicas.
    pub fn panics(self, behavior: &str, replica_read_only: bool) -> bool {
        match self {
            UnreadError::ToPrimary => {
                replica_read_only && matches!(behavior, "panic" | "panic-on-replicas")
            }
            UnreadError::ToAofLoader => behavior == "panic",
            UnreadError::ToReplica => false,
        }
    }
}

/// The error text as Redis handed it to its reply functions (see [`UnreadError::log_line`]).
fn redis_error_text(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let prefixed = || {
        let mut v = Vec::with_capacity(line.len() + 1);
        v.push(b'-');
        v.extend_from_slice(line);
        std::borrow::Cow::Owned(v)
    };
    let Some(msg) = line.strip_prefix(b"ERR ") else {
        return prefixed();
    };
    let keeps_code = PREFIXED_ERR_MESSAGES.iter().any(|m| msg == m.as_bytes())
        || PREFIXED_ERR_STARTS
            .iter()
            .any(|m| msg.starts_with(m.as_bytes()));
    if keeps_code {
        prefixed()
    } else {
        std::borrow::Cow::Borrowed(msg)
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
        if self.latency_tracking {
            crate::cmd_latency::record(&mut s.latency, elapsed);
        }
    }

    /// The commands' latency histograms by name (see `cmd_latency`).
    pub fn latency_by_name(&self) -> BTreeMap<&'static str, hdrhistogram::Histogram<u64>> {
        crate::cmd_latency::by_name(
            self.commands
                .iter()
                .filter_map(|(name, s)| Some((name.0, s.latency.as_ref()?))),
        )
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

    /// A failed execution of `name` that Redis counts without counting the call (a command
    /// of an AOF transaction, run while loading).
    pub fn record_failed_only(&mut self, name: &'static str) {
        self.commands.entry(CmdName(name)).or_default().failed += 1;
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
        // Redis divides in single precision (`(float)bytes_per_sec/1024`), which shows from
        // 64 MiB/s on (67108869 B/s: 65536.01, not 65536.00).
        let kbps = |r: &Rate| f64::from(r.per_sec() as f32 / 1024.0);
        InstantRates {
            ops_per_sec: self.rates[0].per_sec(),
            input_kbps: kbps(&self.rates[1]),
            output_kbps: kbps(&self.rates[2]),
            input_repl_kbps: kbps(&self.rates[3]),
            output_repl_kbps: kbps(&self.rates[4]),
        }
    }

    /// Counters at zero, the rates sampling from `now_ms` (Redis's `resetServerStats`: the
    /// first sample covers the time since then).
    pub fn new(now_ms: i64) -> Stats {
        let mut s = Stats::default();
        for rate in &mut s.rates {
            rate.last = Some((now_ms, 0));
        }
        s
    }

    /// `CONFIG RESETSTAT` at `now_ms` (the blocked-client count is a gauge and stays, and
    /// so does the `latency-tracking` setting).
    pub fn reset(&mut self, now_ms: i64) {
        let blocked = self.blocked_clients;
        let tracking = self.latency_tracking;
        *self = Stats::new(now_ms);
        self.blocked_clients = blocked;
        self.latency_tracking = tracking;
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

    /// Redis's `afterErrorReply`: the code is the text before a space found within the
    /// reply's first 32 bytes, `-` included (so a code of up to 30 bytes); none: `ERR`.
    #[test]
    fn error_code_is_the_word_before_a_space_within_32_bytes() {
        let code30 = "C".repeat(30);
        let code31 = "C".repeat(31);
        let table: &[(String, &str)] = &[
            (format!("{code30} msg"), code30.as_str()),
            (format!("{code31} msg"), "ERR"),
            ("NOSPACE".to_string(), "ERR"),
            (" leading space".to_string(), ""),
            (
                "BUSYKEY Target key name already exists.".to_string(),
                "BUSYKEY",
            ),
        ];
        for (line, want) in table {
            let mut s = Stats::default();
            s.record_error(line.as_bytes());
            let codes: Vec<&[u8]> = s.errors.keys().map(|k| &k[..]).collect();
            assert_eq!(codes, vec![want.as_bytes()], "{line}");
        }
    }

    /// Redis 7.0 keeps every distinct code (the 128-code cap came with 7.2).
    #[test]
    fn distinct_error_codes_are_not_capped() {
        let mut s = Stats::default();
        for i in 0..300 {
            s.record_error(format!("CODE{i} x").as_bytes());
        }
        assert_eq!(s.errors.len(), 300);
        assert_eq!(s.total_error_replies, 300);
    }

    #[test]
    fn unread_error_log_lines_match_redis() {
        let table: &[(UnreadError, &[u8], Option<&str>, &str)] = &[
            (
                UnreadError::ToPrimary,
                b"WRONGTYPE Operation against a key holding the wrong kind of value",
                Some("lpush"),
                "== CRITICAL == This replica is sending an error to its master: '-WRONGTYPE Operation against a key holding the wrong kind of value' after processing the command 'lpush'",
            ),
            (
                UnreadError::ToPrimary,
                b"ERR value is not an integer or out of range",
                Some("exec"),
                "== CRITICAL == This replica is sending an error to its master: 'value is not an integer or out of range' after processing the command 'exec'",
            ),
            (
                UnreadError::ToReplica,
                b"ERR syntax error",
                Some("config|set"),
                "== CRITICAL == This master is sending an error to its replica: '-ERR syntax error' after processing the command 'config|set'",
            ),
            (
                UnreadError::ToAofLoader,
                b"ERR unknown command 'x', with args beginning with: ",
                None,
                "== CRITICAL == This server is sending an error to its AOF-loading-client: 'unknown command 'x', with args beginning with: ' after processing the command '<unknown>'",
            ),
        ];
        for (peer, line, cmd, want) in table {
            assert_eq!(peer.log_line(line, *cmd), *want);
        }
        // The error text is cut at 4096 bytes.
        let long = format!("ERR {}", "y".repeat(5000));
        let logged = UnreadError::ToPrimary.log_line(long.as_bytes(), Some("set"));
        assert!(
            logged.contains(&format!("'{}'", "y".repeat(4096))),
            "{logged}"
        );
        assert_eq!(
            UnreadError::ToAofLoader.panic_line(Some("incr")),
            "This server panicked sending an error to its AOF-loading-client after processing the command 'incr'"
        );
    }

    #[test]
    fn propagation_error_behavior_panics_where_redis_does() {
        use UnreadError::*;
        assert!(ToPrimary.panics("panic-on-replicas", true));
        assert!(ToPrimary.panics("panic", true));
        assert!(!ToPrimary.panics("panic", false));
        assert!(!ToPrimary.panics("ignore", true));
        assert!(ToAofLoader.panics("panic", false));
        assert!(!ToAofLoader.panics("panic-on-replicas", true));
        assert!(!ToReplica.panics("panic", true));
    }

    /// The first sample covers the time since the stats started (or were reset), as Redis
    /// primes `last_sample_time` and a zero count in `resetServerStats`.
    #[test]
    fn first_sample_counts_from_the_start() {
        let mut s = Stats::new(1_000);
        s.total_commands_processed = 160;
        s.cron(1_100);
        // 160 commands in 100 ms: one sample of 1,600/s, averaged over 16 slots.
        assert_eq!(s.instant_rates().ops_per_sec, 100);
        s.reset(5_000);
        assert_eq!(s.instant_rates().ops_per_sec, 0);
        s.total_commands_processed = 16;
        s.cron(5_200);
        assert_eq!(s.instant_rates().ops_per_sec, 5);
    }

    /// kbps is `(float)bytes_per_sec / 1024` in single precision, printed with two decimals.
    #[test]
    fn kbps_divide_in_single_precision() {
        let mut s = Stats::new(0);
        // 67,108,869 B/s in every sample (one a second).
        for i in 1..=16u64 {
            s.total_net_input_bytes = i * 67_108_869;
            s.cron(i as i64 * 1000);
        }
        let r = s.instant_rates();
        assert_eq!(s.rates[1].per_sec(), 67_108_869);
        assert_eq!(format!("{:.2}", r.input_kbps), "65536.01");
        assert_eq!(format!("{:.2}", 67_108_869f64 / 1024.0), "65536.00");
    }
}
