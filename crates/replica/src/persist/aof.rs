//! The AOF directory on disk and the primitives that keep it consistent: where each file
//! lives, persisting the manifest atomically, opening INCR files, writing with Redis's
//! short-write rule, the `appendfsync` decision, and the background fsync thread.
//!
//! ## Layout (Redis 7.0)
//!
//! ```text
//! <dir>/<appenddirname>/<appendfilename>.manifest
//! <dir>/<appenddirname>/<appendfilename>.<seq>.base.rdb|aof
//! <dir>/<appenddirname>/<appendfilename>.<seq>.incr.aof
//! <dir>/temp-rewriteaof-bg-<pid>.aof     (a finished rewrite, before the parent installs it)
//! ```
//!
//! ## Manifest updates are atomic
//!
//! 1. write `temp-<appendfilename>.manifest`; 2. fsync it; 3. rename it over the manifest;
//! 4. fsync the directory. A crash at any point leaves either the old or the new manifest.
//!
//! ## The fsync thread
//!
//! [`Fsyncer`] owns one thread that only fsyncs, closes and unlinks files: it never sees
//! the keyspace. The keyspace thread asks it for work through a channel and reads two
//! facts back: whether a job is still pending ([`Fsyncer::in_progress`], for the `everysec`
//! postponement rule) and the result of the last fsync ([`Fsyncer::last_error`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use ferrokv_proto::aof::manifest::{self, Manifest, ManifestError};

/// Where the AOF files are: `dir`, `appenddirname`, `appendfilename`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofLayout {
    pub dir: PathBuf,
    pub dirname: String,
    pub filename: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AofError {
    #[error("Fatal error: can't open the AOF manifest file {path} for reading: {source}")]
    ManifestOpen { path: String, source: io::Error },
    /// Redis's "*** FATAL AOF MANIFEST FILE ERROR ***" cases.
    #[error("Bad AOF manifest {path}{}: {source}. Use redis-check-aof to inspect it.", .source.line.as_ref().map(|(n, l)| format!(" at line {n} ('{l}')")).unwrap_or_default())]
    Manifest { path: String, source: ManifestError },
    #[error("Can't open or create append-only dir {dir}: {source}")]
    Dir { dir: String, source: io::Error },
    #[error("Error trying to write the temporary AOF manifest file {path}: {source}")]
    ManifestWrite { path: String, source: io::Error },
    #[error("Can't open the append-only file {name}: {source}")]
    Open { name: String, source: io::Error },
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl AofLayout {
    /// `dir/appenddirname`.
    pub fn aof_dir(&self) -> PathBuf {
        self.dir.join(&self.dirname)
    }

    /// A file inside the AOF directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.aof_dir().join(name)
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.path(&manifest::manifest_name(&self.filename))
    }

    /// The file a rewrite child writes, in `dir` (Redis: `temp-rewriteaof-<pid>.aof`).
    pub fn rewrite_temp_path(&self, pid: u32) -> PathBuf {
        self.dir.join(format!("temp-rewriteaof-{pid}.aof"))
    }

    /// The finished rewrite, renamed by the child (Redis: `temp-rewriteaof-bg-<pid>.aof`).
    pub fn rewrite_done_path(&self, pid: u32) -> PathBuf {
        self.dir.join(format!("temp-rewriteaof-bg-{pid}.aof"))
    }

    /// Reads the manifest. `Ok(None)` when the directory or the manifest does not exist.
    pub fn load_manifest(&self) -> Result<Option<Manifest>, AofError> {
        let path = self.manifest_path();
        if !self.aof_dir().is_dir() || !path.exists() {
            return Ok(None);
        }
        let text = fs::read(&path).map_err(|source| AofError::ManifestOpen {
            path: path.display().to_string(),
            source,
        })?;
        Manifest::parse(&text)
            .map(Some)
            .map_err(|source| AofError::Manifest {
                path: path.display().to_string(),
                source,
            })
    }

    /// Creates the AOF directory if missing.
    pub fn create_dir(&self) -> Result<(), AofError> {
        let d = self.aof_dir();
        fs::create_dir_all(&d).map_err(|source| AofError::Dir {
            dir: d.display().to_string(),
            source,
        })
    }

    /// Persists `m` atomically (steps 1-4 of the module doc).
    pub fn persist_manifest(&self, m: &Manifest) -> Result<(), AofError> {
        let temp = self.path(&manifest::temp_manifest_name(&self.filename));
        let err = |source| AofError::ManifestWrite {
            path: temp.display().to_string(),
            source,
        };
        let mut f = File::create(&temp).map_err(err)?;
        f.write_all(m.to_text().as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        drop(f);
        fs::rename(&temp, self.manifest_path()).map_err(err)?;
        fsync_dir(&self.aof_dir()).map_err(err)?;
        Ok(())
    }

    /// Opens `name` in the AOF directory for appending (created if missing).
    pub fn open_append(&self, name: &str) -> Result<File, AofError> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(self.path(name))
            .map_err(|source| AofError::Open {
                name: name.to_string(),
                source,
            })
    }

    /// Creates (or truncates) `name` in the AOF directory for appending.
    pub fn create_append(&self, name: &str) -> Result<File, AofError> {
        // std refuses `append` together with `truncate`: empty the file first.
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(self.path(name))
            .map_err(|source| AofError::Open {
                name: name.to_string(),
                source,
            })?;
        self.open_append(name)
    }

    /// Size of a file in the AOF directory (0 when it does not exist).
    pub fn file_size(&self, name: &str) -> u64 {
        fs::metadata(self.path(name)).map_or(0, |m| m.len())
    }
}

/// fsyncs a directory so renames and creations in it survive a power loss.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    EverySec,
    No,
}

impl FsyncPolicy {
    /// From the config's text (`always`, `everysec`, `no`); anything else is `everysec`.
    pub fn from_config(s: &str) -> FsyncPolicy {
        match s {
            "always" => FsyncPolicy::Always,
            "no" => FsyncPolicy::No,
            _ => FsyncPolicy::EverySec,
        }
    }
}

/// How long a write may be postponed behind a running background fsync (Redis: 2 s).
pub const MAX_POSTPONE_SECS: i64 = 2;

/// What [`flush_decision`] says to do with a non-empty AOF buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Leave the buffer for later (a background fsync is running).
    Postpone,
    /// Write now. `delayed` = the 2-second postponement ran out: count an
    /// `aof_delayed_fsync` and log Redis's warning.
    Write { delayed: bool },
}

/// Redis's `everysec` postponement rule: while a background fsync runs, a write to the same
/// file would block, so it is postponed; once it has been postponed for
/// [`MAX_POSTPONE_SECS`] it happens anyway. `postponed_since` is the state (Unix seconds).
pub fn flush_decision(
    policy: FsyncPolicy,
    force: bool,
    fsync_in_progress: bool,
    now_secs: i64,
    postponed_since: &mut Option<i64>,
) -> Flush {
    if policy == FsyncPolicy::EverySec && !force && fsync_in_progress {
        match *postponed_since {
            None => {
                *postponed_since = Some(now_secs);
                return Flush::Postpone;
            }
            Some(since) if now_secs - since < MAX_POSTPONE_SECS => return Flush::Postpone,
            Some(_) => {
                *postponed_since = None;
                return Flush::Write { delayed: true };
            }
        }
    }
    *postponed_since = None;
    Flush::Write { delayed: false }
}

/// Writes all of `buf` to `file` (opened with `O_APPEND`), whose size before the write was
/// `size_before`. On error a partial write is cut back with `ftruncate`, as Redis does, so
/// the file never ends in half a command that a later write would glue garbage to.
/// Returns the bytes written; on failure, the error and how many bytes stayed in the file
/// (0 when the truncate worked).
pub fn append(file: &File, buf: &[u8], size_before: u64) -> Result<(), (io::Error, u64)> {
    let mut w = file;
    let mut done = 0usize;
    while done < buf.len() {
        match w.write(&buf[done..]) {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "short write");
                return Err((e, cut_back(file, size_before, done)));
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((e, cut_back(file, size_before, done))),
        }
    }
    Ok(())
}

fn cut_back(file: &File, size_before: u64, written: usize) -> u64 {
    if written == 0 {
        return 0;
    }
    match file.set_len(size_before) {
        Ok(()) => 0,
        Err(_) => written as u64,
    }
}

enum Job {
    Fsync(Arc<File>),
    FsyncAndClose(Arc<File>),
    Unlink(PathBuf),
}

struct Shared {
    pending: AtomicUsize,
    /// Whether `last_error` holds an error: read on every write command's gate, so the
    /// common case (no error) takes no lock.
    failed: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// The background thread for fsync / close / unlink (Redis's bio jobs for the AOF).
pub struct Fsyncer {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

impl Fsyncer {
    /// Starts the thread. It ends when the `Fsyncer` is dropped.
    pub fn start() -> io::Result<Fsyncer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let shared = Arc::new(Shared {
            pending: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            last_error: Mutex::new(None),
        });
        let s = shared.clone();
        thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    match job {
                        Job::Fsync(f) | Job::FsyncAndClose(f) => {
                            let r = f.sync_data();
                            if let Ok(mut e) = s.last_error.lock() {
                                *e = r.err().map(|e| e.to_string());
                                s.failed.store(e.is_some(), Ordering::Release);
                            }
                            drop(f);
                        }
                        Job::Unlink(p) => {
                            let _ = fs::remove_file(p);
                        }
                    }
                    s.pending.fetch_sub(1, Ordering::AcqRel);
                }
            })?;
        Ok(Fsyncer { tx, shared })
    }

    fn submit(&self, job: Job) {
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(job).is_err() {
            self.shared.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// fsyncs `file` in the background.
    pub fn fsync(&self, file: Arc<File>) {
        self.submit(Job::Fsync(file));
    }

    /// fsyncs `file` in the background, then drops (closes) this handle of it.
    pub fn fsync_and_close(&self, file: Arc<File>) {
        self.submit(Job::FsyncAndClose(file));
    }

    /// Removes a file in the background (history files can be large).
    pub fn unlink(&self, path: PathBuf) {
        self.submit(Job::Unlink(path));
    }

    /// Jobs submitted and not finished (`aof_pending_bio_fsync`).
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::Acquire)
    }

    pub fn in_progress(&self) -> bool {
        self.pending() > 0
    }

    /// The error of the last background fsync, if it failed.
    pub fn last_error(&self) -> Option<String> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        self.shared.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Waits (bounded) until every submitted job ran. Used before shutdown and in tests.
    pub fn drain(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.in_progress() {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            thread::sleep(std::time::Duration::from_millis(1));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn layout(dir: &Path) -> AofLayout {
        AofLayout {
            dir: dir.to_path_buf(),
            dirname: "appendonlydir".into(),
            filename: "appendonly.aof".into(),
        }
    }

    #[test]
    fn manifest_persists_atomically_and_reloads() {
        let d = tempfile::tempdir().unwrap();
        let l = layout(d.path());
        assert!(l.load_manifest().unwrap().is_none());
        l.create_dir().unwrap();
        let mut m = Manifest::default();
        m.new_base("appendonly.aof", true);
        m.new_incr("appendonly.aof");
        l.persist_manifest(&m).unwrap();
        assert_eq!(l.load_manifest().unwrap(), Some(m));
        assert!(!l.path("temp-appendonly.aof.manifest").exists());
        assert_eq!(
            fs::read_to_string(l.manifest_path()).unwrap(),
            "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
    }

    #[test]
    fn bad_manifest_error_names_file_line_and_tool() {
        let d = tempfile::tempdir().unwrap();
        let l = layout(d.path());
        l.create_dir().unwrap();
        fs::write(l.manifest_path(), "file a seq 1 type b\ngarbage\n").unwrap();
        let e = l.load_manifest().unwrap_err().to_string();
        assert!(
            e.contains("appendonly.aof.manifest")
                && e.contains("line 2")
                && e.contains("redis-check-aof"),
            "{e}"
        );
    }

    #[test]
    fn postponement_rule_waits_two_seconds_then_writes() {
        let mut since = None;
        let p = FsyncPolicy::EverySec;
        assert_eq!(
            flush_decision(p, false, false, 100, &mut since),
            Flush::Write { delayed: false }
        );
        assert_eq!(
            flush_decision(p, false, true, 100, &mut since),
            Flush::Postpone
        );
        assert_eq!(
            flush_decision(p, false, true, 101, &mut since),
            Flush::Postpone
        );
        assert_eq!(
            flush_decision(p, false, true, 102, &mut since),
            Flush::Write { delayed: true }
        );
        assert_eq!(since, None);
        // A forced flush (rewrite start, shutdown) and other policies never wait.
        assert_eq!(
            flush_decision(p, true, true, 103, &mut since),
            Flush::Write { delayed: false }
        );
        assert_eq!(
            flush_decision(FsyncPolicy::Always, false, true, 103, &mut since),
            Flush::Write { delayed: false }
        );
        assert_eq!(
            flush_decision(FsyncPolicy::No, false, true, 103, &mut since),
            Flush::Write { delayed: false }
        );
    }

    #[test]
    fn append_writes_and_fsyncer_syncs_in_background() {
        let d = tempfile::tempdir().unwrap();
        let l = layout(d.path());
        l.create_dir().unwrap();
        let f = Arc::new(l.create_append("x.aof").unwrap());
        append(&f, b"hello", 0).unwrap();
        append(&f, b" world", 5).unwrap();
        let fs_ = Fsyncer::start().unwrap();
        fs_.fsync(f.clone());
        fs_.unlink(l.path("nothing-here"));
        assert!(fs_.drain(Duration::from_secs(5)));
        assert_eq!(fs_.last_error(), None);
        assert_eq!(fs::read(l.path("x.aof")).unwrap(), b"hello world");
    }

    #[test]
    fn failed_append_on_a_full_device_reports_the_error() {
        // /dev/full fails every write with ENOSPC.
        let Ok(f) = OpenOptions::new().append(true).open("/dev/full") else {
            return;
        };
        let (e, left) = append(&f, b"data", 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        assert_eq!(left, 0);
    }
}
