//! SLOWLOG: commands slower than `slowlog-log-slower-than` microseconds, newest first, at
//! most `slowlog-max-len` entries. Arguments are trimmed as Redis trims them (at most 32
//! arguments, each at most 128 bytes).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use crate::client::{Client, ClientId};
use crate::config::Config;

const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

#[derive(Debug, Clone)]
pub struct SlowEntry {
    pub id: u64,
    pub time_secs: i64,
    pub micros: u64,
    pub argv: Vec<Bytes>,
    pub peer: String,
    pub name: Bytes,
}

#[derive(Debug, Default)]
pub struct Slowlog {
    pub entries: VecDeque<SlowEntry>,
    next_id: u64,
}

impl Slowlog {
    pub fn maybe_record(
        &mut self,
        cfg: &Config,
        _id: ClientId,
        argv: &[Bytes],
        elapsed: Duration,
        client: Option<&Client>,
    ) {
        let threshold = cfg.slowlog_log_slower_than;
        if threshold < 0 || (elapsed.as_micros() as i64) < threshold {
            return;
        }
        let mut args: Vec<Bytes> = Vec::with_capacity(argv.len().min(MAX_ARGC));
        for (i, a) in argv.iter().enumerate() {
            if i == MAX_ARGC - 1 && argv.len() > MAX_ARGC {
                args.push(Bytes::from(format!(
                    "... ({} more arguments)",
                    argv.len() - MAX_ARGC + 1
                )));
                break;
            }
            if a.len() > MAX_STRING {
                let mut s = a[..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                );
                args.push(Bytes::from(s));
            } else {
                args.push(a.clone());
            }
        }
        self.entries.push_front(SlowEntry {
            id: self.next_id,
            time_secs: crate::node::unix_ms() / 1000,
            micros: elapsed.as_micros() as u64,
            argv: args,
            peer: client.map(|c| c.addr.to_string()).unwrap_or_default(),
            name: client.and_then(|c| c.name.clone()).unwrap_or_default(),
        });
        self.next_id += 1;
        self.entries.truncate(cfg.slowlog_max_len.max(0) as usize);
    }
}
