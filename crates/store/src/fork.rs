//! Forking a child that writes a point-in-time copy of the keyspace.
//!
//! The fork happens on the keyspace thread between two commands, so the child's copy is
//! consistent without any lock. Everything the child needs is prepared first: the open
//! temp file or pipe, the keyspace reference (the child's copy-on-write view of it), and the
//! progress pipe back to the parent.
//!
//! The child may: walk the keyspace, encode RDB, write/fsync/rename with plain syscalls, send
//! progress and copy-on-write stats on the pipe, and end with `libc::_exit`.
//! The child must not: touch the tokio runtime, channels or timers; log; lock anything (other
//! threads' locks stay frozen in the child); drop shared `Arc`s or run destructors of
//! runtime objects; keep the listening socket open (`close_listeners` closes it so a dead
//! parent frees the port).
//!
//! Allocation in the child: ferrokv runs its keyspace on one thread and jemalloc (the global
//! allocator of the binary) registers `pthread_atfork` handlers, so allocating in the child
//! is safe. Re-check this if the allocator or the threading model changes.
//!
//! Who renames: for RDB the child renames its temp file over `dbfilename` (as Redis's
//! `rdbSave` does); for an AOF rewrite the parent renames and then persists the manifest.
//!
//! [`ChildSlot`] owns the one running child: a second BGSAVE or BGREWRITEAOF is scheduled or
//! refused by the caller with Redis's text, never raced. The parent reaps with
//! `waitpid(WNOHANG)` from its cron and never blocks.

#![allow(unsafe_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// What a child is doing (Redis's child types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// BGSAVE (or a disk-based full sync).
    Rdb,
    /// BGREWRITEAOF.
    AofRewrite,
    /// A diskless full sync streaming RDB to replicas.
    ReplSync,
}

impl ChildKind {
    pub fn name(self) -> &'static str {
        match self {
            ChildKind::Rdb => "RDB",
            ChildKind::AofRewrite => "AOF rewrite",
            ChildKind::ReplSync => "RDB (diskless)",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    #[error("Can't fork: {0}")]
    Fork(nix::Error),
    #[error("Can't create the progress pipe: {0}")]
    Pipe(nix::Error),
    #[error("a {0} child is already running")]
    Busy(&'static str),
}

/// The latest progress a child reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildProgress {
    pub keys_done: u64,
    pub keys_total: u64,
    pub cow_bytes: u64,
}

const PROGRESS_RECORD: usize = 24;

/// The child's end of the progress pipe.
pub struct ChildReporter {
    fd: File,
    last: Instant,
}

impl ChildReporter {
    /// Reports progress at most every 100 ms (and always when `force`).
    pub fn child_report(&mut self, keys_done: u64, keys_total: u64, force: bool) {
        if !force && self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let cow = child_private_dirty_bytes().unwrap_or(0);
        let mut rec = [0u8; PROGRESS_RECORD];
        rec[..8].copy_from_slice(&keys_done.to_le_bytes());
        rec[8..16].copy_from_slice(&keys_total.to_le_bytes());
        rec[16..].copy_from_slice(&cow.to_le_bytes());
        // FORK-CHILD: a plain write(2) on a non-blocking pipe; a full pipe drops the record,
        // which only delays a progress figure.
        let _ = self.fd.write(&rec);
    }
}

/// Copy-on-write estimate: this process's private dirty memory (`Private_Dirty` in
/// `/proc/self/smaps_rollup`), which in a fork child is what it had to copy.
pub fn child_private_dirty_bytes() -> Option<u64> {
    let mut s = String::new();
    // FORK-CHILD: open/read/close of a procfs file are plain syscalls.
    File::open("/proc/self/smaps_rollup")
        .ok()?
        .read_to_string(&mut s)
        .ok()?;
    let kb: u64 = s
        .lines()
        .filter(|l| l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Some(kb * 1024)
}

/// The one running child, if any.
#[derive(Default)]
pub struct ChildSlot {
    running: Option<RunningChild>,
    /// `latest_fork_usec`: how long the last `fork()` call blocked the parent.
    pub latest_fork_usec: u64,
    pub total_forks: u64,
}

pub struct RunningChild {
    pub pid: Pid,
    pub kind: ChildKind,
    pub started: Instant,
    progress_rd: File,
    pub progress: ChildProgress,
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildExit {
    pub pid: Pid,
    pub kind: ChildKind,
    pub elapsed: Duration,
    /// `Ok(())` for exit code 0; `Err(text)` for a non-zero code or a signal.
    pub result: Result<(), String>,
    pub progress: ChildProgress,
}

impl ChildSlot {
    pub fn running(&self) -> Option<&RunningChild> {
        self.running.as_ref()
    }

    pub fn is_busy(&self) -> bool {
        self.running.is_some()
    }

    /// Forks a child that writes the keyspace out (BGSAVE, AOF rewrite): it reports 0 of the
    /// keys, runs `write(pid)` (which returns the keys written) and reports the end, exiting
    /// 0; on an error it writes `<what>: <error>` to stderr (a plain write(2); the parent logs
    /// the failure from the exit code) and exits 1.
    pub fn fork_dump<E: std::fmt::Display>(
        &mut self,
        kind: ChildKind,
        close_fds: &[RawFd],
        ks: &crate::keyspace::Keyspace,
        what: &str,
        write: impl FnOnce(u32) -> Result<u64, E>,
    ) -> Result<Pid, ForkError> {
        self.fork(kind, close_fds, |reporter| {
            // FORK-CHILD: walks our copy-on-write view of the keyspace; `write` writes,
            // fsyncs and renames with plain syscalls; no logging, no runtime.
            let total = ks.dbs.iter().map(|d| d.len() as u64).sum();
            reporter.child_report(0, total, true);
            match write(std::process::id()) {
                Ok(keys) => {
                    reporter.child_report(keys, total.max(1), true);
                    0
                }
                Err(e) => {
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "{what}: {e}");
                    1
                }
            }
        })
    }

    /// Forks a child that runs `child_main` and exits with its return code.
    ///
    /// 1. Refuses if a child is already running.
    /// 2. Creates the progress pipe (non-blocking on both ends).
    /// 3. Forks, timing the call (`latest_fork_usec`).
    /// 4. In the child: closes `close_fds` (listening sockets), runs `child_main`, `_exit`s.
    /// 5. In the parent: records the child and returns its pid.
    pub fn fork<F>(
        &mut self,
        kind: ChildKind,
        close_fds: &[RawFd],
        child_main: F,
    ) -> Result<Pid, ForkError>
    where
        F: FnOnce(&mut ChildReporter) -> i32,
    {
        if let Some(r) = &self.running {
            return Err(ForkError::Busy(r.kind.name()));
        }
        let (rd, wr) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(ForkError::Pipe)?;
        let start = Instant::now();
        // SAFETY: fork() in a process whose keyspace thread is the only thread touching the
        // data the child reads; the child follows the rules in the module doc and always
        // ends in `_exit`, never returning into the caller.
        #[allow(clippy::disallowed_methods)]
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(ForkError::Fork(nix::Error::last()));
        }
        if pid == 0 {
            drop(rd);
            for fd in close_fds {
                // FORK-CHILD: close(2) so a dead parent frees its listening port.
                unsafe { libc::close(*fd) };
            }
            let mut reporter = ChildReporter {
                fd: File::from(wr),
                last: Instant::now() - Duration::from_secs(1),
            };
            let code = child_main(&mut reporter);
            reporter.child_report(0, 0, true);
            // FORK-CHILD: _exit skips atexit handlers and destructors of the parent's objects.
            unsafe { libc::_exit(code) };
        }
        drop(wr);
        self.latest_fork_usec = start.elapsed().as_micros() as u64;
        self.total_forks += 1;
        let pid = Pid::from_raw(pid);
        self.running = Some(RunningChild {
            pid,
            kind,
            started: Instant::now(),
            progress_rd: File::from(rd),
            progress: ChildProgress::default(),
        });
        Ok(pid)
    }

    /// Reads pending progress records and reaps the child if it ended (never blocks).
    pub fn poll(&mut self) -> Option<ChildExit> {
        let r = self.running.as_mut()?;
        let mut buf = [0u8; PROGRESS_RECORD * 64];
        loop {
            match r.progress_rd.read(&mut buf) {
                Ok(n) if n >= PROGRESS_RECORD => {
                    let last =
                        &buf[(n / PROGRESS_RECORD - 1) * PROGRESS_RECORD..][..PROGRESS_RECORD];
                    let u =
                        |i: usize| u64::from_le_bytes(last[i..i + 8].try_into().expect("8 bytes"));
                    let p = ChildProgress {
                        keys_done: u(0),
                        keys_total: u(8),
                        cow_bytes: u(16),
                    };
                    // The final record (0, 0, cow) only updates the copy-on-write figure.
                    if p.keys_total > 0 {
                        r.progress = p;
                    } else {
                        r.progress.cow_bytes = p.cow_bytes;
                    }
                }
                _ => break,
            }
        }
        let status = waitpid(r.pid, Some(WaitPidFlag::WNOHANG)).ok()?;
        let result = match status {
            WaitStatus::Exited(_, 0) => Ok(()),
            WaitStatus::Exited(_, code) => Err(format!("exited with code {code}")),
            WaitStatus::Signaled(_, sig, _) => Err(format!("terminated by signal {}", sig as i32)),
            _ => return None,
        };
        let r = self.running.take()?;
        Some(ChildExit {
            pid: r.pid,
            kind: r.kind,
            elapsed: r.started.elapsed(),
            result,
            progress: r.progress,
        })
    }

    /// Kills the running child with SIGUSR1 (the signal Redis uses for a child it kills on
    /// purpose) and reaps it; SIGKILL after 1 s if it is still there.
    pub fn kill(&mut self) -> Option<ChildExit> {
        let pid = self.running.as_ref()?.pid;
        let _ = kill(pid, Signal::SIGUSR1);
        for _ in 0..1000 {
            if let Some(exit) = self.poll() {
                return Some(exit);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        self.running.take().map(|r| ChildExit {
            pid: r.pid,
            kind: r.kind,
            elapsed: r.started.elapsed(),
            result: Err("killed".into()),
            progress: r.progress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_exit(slot: &mut ChildSlot) -> ChildExit {
        for _ in 0..5000 {
            if let Some(e) = slot.poll() {
                return e;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("child did not exit within 5 s");
    }

    #[test]
    fn child_runs_reports_and_is_reaped() {
        let mut slot = ChildSlot::default();
        let pid = slot
            .fork(ChildKind::Rdb, &[], |r| {
                r.child_report(5, 10, true);
                0
            })
            .unwrap();
        assert!(slot.is_busy());
        assert!(matches!(
            slot.fork(ChildKind::AofRewrite, &[], |_| 0),
            Err(ForkError::Busy(_))
        ));
        let exit = wait_exit(&mut slot);
        assert_eq!(exit.pid, pid);
        assert_eq!(exit.result, Ok(()));
        assert!(!slot.is_busy());
        assert_eq!(slot.total_forks, 1);
    }

    #[test]
    fn failing_child_reports_its_code() {
        let mut slot = ChildSlot::default();
        slot.fork(ChildKind::Rdb, &[], |_| 3).unwrap();
        let exit = wait_exit(&mut slot);
        assert_eq!(exit.result, Err("exited with code 3".into()));
    }

    #[test]
    fn killed_child_is_an_error() {
        let mut slot = ChildSlot::default();
        slot.fork(ChildKind::Rdb, &[], |_| {
            std::thread::sleep(Duration::from_secs(30));
            0
        })
        .unwrap();
        let exit = slot.kill().unwrap();
        assert!(exit.result.is_err());
    }
}
