//! Loading the dataset at startup while connections are served: the state INFO shows
//! (`loading:1` and the `loading_*` fields of [`Loading`]) and the pacing that yields to
//! the runtime between steps of a loader ([`run`]).
//!
//! Both boot paths use it: the RDB file (`rdb_file.rs`) and the AOF (`aof.rs`). While
//! [`Node::loading`] is set, every command without the `loading` flag gets `-LOADING Redis
//! is loading the dataset in memory` (the node's gatekeeping checks it). Cron and
//! replication start only after loading, so between two steps the runtime runs nothing
//! but connections.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::node::{unix_ms, Node};

/// Bytes read before yielding to the runtime (Redis's `loading-process-events-interval-bytes`).
const YIELD_BYTES: u64 = 2 * 1024 * 1024;
/// Longest stretch of loading without serving connections.
const YIELD_AFTER: Duration = Duration::from_millis(50);

/// A load in progress (INFO persistence `loading_*`).
#[derive(Debug, Clone)]
pub struct Loading {
    /// Unix seconds when loading started.
    pub start_time: i64,
    pub started: Instant,
    pub total_bytes: u64,
    pub loaded_bytes: u64,
    /// The file's `used-mem` aux field, once read.
    pub rdb_used_mem: u64,
}

impl Loading {
    pub fn new(total_bytes: u64) -> Loading {
        Loading {
            start_time: unix_ms() / 1000,
            started: Instant::now(),
            total_bytes,
            loaded_bytes: 0,
            rdb_used_mem: 0,
        }
    }

    /// The `loading_*` lines of INFO persistence, computed as Redis computes them.
    pub fn info_lines(&self) -> String {
        let (perc, remaining) = if self.total_bytes > 0 {
            (
                self.loaded_bytes as f64 * 100.0 / self.total_bytes as f64,
                self.total_bytes.saturating_sub(self.loaded_bytes),
            )
        } else {
            (0.0, 1)
        };
        let elapsed = self.started.elapsed().as_secs();
        let eta = if elapsed == 0 {
            1
        } else {
            elapsed * remaining / (self.loaded_bytes + 1)
        };
        format!(
            "loading_start_time:{}\r\nloading_total_bytes:{}\r\nloading_rdb_used_mem:{}\r\n\
             loading_loaded_bytes:{}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n",
            self.start_time, self.total_bytes, self.rdb_used_mem, self.loaded_bytes
        )
    }
}

/// What one step of a loader reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Everything is loaded.
    pub done: bool,
    /// Bytes loaded so far, out of the total given to [`run`].
    pub bytes: u64,
    /// `used-mem` of the RDB being read, when known.
    pub rdb_used_mem: Option<u64>,
}

/// Runs `step` until it reports `done`, with [`Node::loading`] set meanwhile:
///
/// 1. Set `loading` with `total` bytes (INFO `loading:1`, commands get `-LOADING`).
/// 2. Call `step` with the node borrowed; after every 2 MB or 50 ms of loading, publish the
///    progress in `loading` and yield, so connections are served (never holding the borrow
///    across the yield).
/// 3. Clear `loading` when `step` is done or fails (the caller decides what a failure
///    means; at startup the process exits).
pub async fn run<E>(
    node: &Rc<RefCell<Node>>,
    total: u64,
    mut step: impl FnMut(&mut Node) -> Result<Progress, E>,
) -> Result<(), E> {
    node.borrow_mut().loading = Some(Loading::new(total));
    let mut last_yield = (0u64, Instant::now());
    let result = loop {
        let progress = match step(&mut node.borrow_mut()) {
            Ok(p) => p,
            Err(e) => break Err(e),
        };
        if progress.done {
            break Ok(());
        }
        let due = progress.bytes.saturating_sub(last_yield.0) >= YIELD_BYTES
            || last_yield.1.elapsed() >= YIELD_AFTER;
        if due {
            if let Some(l) = node.borrow_mut().loading.as_mut() {
                l.loaded_bytes = progress.bytes;
                if let Some(mem) = progress.rdb_used_mem {
                    l.rdb_used_mem = mem;
                }
            }
            tokio::task::yield_now().await;
            last_yield = (progress.bytes, Instant::now());
        }
    };
    node.borrow_mut().loading = None;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn loading_info_lines_follow_redis() {
        let mut l = Loading::new(1000);
        l.loaded_bytes = 250;
        l.rdb_used_mem = 77;
        let text = l.info_lines();
        assert!(text.contains("loading_total_bytes:1000\r\n"), "{text}");
        assert!(text.contains("loading_loaded_bytes:250\r\n"));
        assert!(text.contains("loading_loaded_perc:25.00\r\n"));
        assert!(text.contains("loading_rdb_used_mem:77\r\n"));
        assert!(text.contains("loading_eta_seconds:1\r\n"));
    }

    #[test]
    fn run_sets_loading_while_stepping_and_clears_it_after_an_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let node = Rc::new(RefCell::new(Node::new(Config::default(), None)));
        let mut calls = 0u64;
        let done = rt.block_on(run(&node, 10, |n| {
            assert_eq!(n.loading.as_ref().map(|l| l.total_bytes), Some(10));
            calls += 1;
            Ok::<_, ()>(Progress {
                done: calls == 5,
                bytes: calls * 2,
                rdb_used_mem: None,
            })
        }));
        assert_eq!(done, Ok(()));
        assert_eq!(calls, 5);
        assert!(node.borrow().loading.is_none());
        let failed = rt.block_on(run(&node, 10, |_| Err::<Progress, _>("bad")));
        assert_eq!(failed, Err("bad"));
        assert!(node.borrow().loading.is_none());
    }
}
