//! Writing `dir/dbfilename` so that a crash at any moment leaves either the old or the new
//! complete file, never a torn one.
//!
//! 1. Write the whole RDB to `dir/temp-<pid>.rdb` (buffered).
//! 2. `fsync` the temp file.
//! 3. `rename` it over `dir/dbfilename` (atomic on POSIX file systems).
//! 4. `fsync` the directory so the rename itself survives a power loss.
//!
//! On any error the temp file is removed and the previous file is untouched.
//! [`start_bgsave`] runs the same steps in a fork child (the child renames, as Redis's
//! `rdbSave` does); [`finish_bgsave`] is the parent's side once the child is reaped.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use ferrokv_proto::rdb::WriterOptions;
use ferrokv_store::fork::{ChildExit, ChildKind, ChildSlot, ForkError};
use ferrokv_store::snapshot::{self, SaveStats};
use ferrokv_store::Keyspace;
use nix::unistd::Pid;

/// Where and how to write RDB files (`dir`, `dbfilename`, `rdbcompression`, `rdbchecksum`).
#[derive(Debug, Clone)]
pub struct RdbTarget {
    pub dir: PathBuf,
    pub dbfilename: String,
    pub opts: WriterOptions,
}

impl RdbTarget {
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.dbfilename)
    }

    /// The temp file a process with `pid` writes before renaming.
    pub fn temp_path(&self, pid: u32) -> PathBuf {
        self.dir.join(format!("temp-{pid}.rdb"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(
        "Failed opening the temp RDB file {path} (in server root dir {dir}) for saving: {source}"
    )]
    Open {
        path: String,
        dir: String,
        source: io::Error,
    },
    #[error("Write error saving DB on disk: {0}")]
    Write(String),
    #[error("Error moving temp DB file {temp} on the final destination {path} (in server root dir {dir}): {source}")]
    Rename {
        temp: String,
        path: String,
        dir: String,
        source: io::Error,
    },
}

/// Steps 1-4 of the module doc, in the calling process. Returns what was written.
pub fn save_to_disk(ks: &Keyspace, target: &RdbTarget, pid: u32) -> Result<SaveStats, SaveError> {
    let temp = target.temp_path(pid);
    let result = write_temp(ks, target, &temp).and_then(|stats| {
        fs::rename(&temp, target.path()).map_err(|source| SaveError::Rename {
            temp: temp.display().to_string(),
            path: target.dbfilename.clone(),
            dir: target.dir.display().to_string(),
            source,
        })?;
        fsync_dir(&target.dir);
        Ok(stats)
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_temp(ks: &Keyspace, target: &RdbTarget, temp: &Path) -> Result<SaveStats, SaveError> {
    let file = File::create(temp).map_err(|source| SaveError::Open {
        path: temp.display().to_string(),
        dir: target.dir.display().to_string(),
        source,
    })?;
    let (w, stats) = snapshot::save(ks, BufWriter::with_capacity(1 << 16, file), &target.opts)
        .map_err(|e| SaveError::Write(e.to_string()))?;
    let file = w
        .into_inner()
        .map_err(|e| SaveError::Write(e.error().to_string()))?;
    file.sync_all()
        .map_err(|e| SaveError::Write(e.to_string()))?;
    Ok(stats)
}

/// Makes a completed rename durable. Errors are ignored: the data is already in place.
pub fn fsync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Forks a child that saves `ks` to `target` (see the module doc). `close_fds` are the
/// listening sockets the child must close.
pub fn start_bgsave(
    slot: &mut ChildSlot,
    ks: &Keyspace,
    target: &RdbTarget,
    close_fds: &[RawFd],
) -> Result<Pid, ForkError> {
    slot.fork_dump(
        ChildKind::Rdb,
        close_fds,
        ks,
        "Background saving child",
        |pid| save_to_disk(ks, target, pid).map(|stats| stats.keys),
    )
}

/// The parent's side after the BGSAVE child ended: on failure remove its temp file.
pub fn finish_bgsave(exit: &ChildExit, target: &RdbTarget) {
    if exit.result.is_err() {
        let _ = fs::remove_file(target.temp_path(exit.pid.as_raw() as u32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ferrokv_store::{StoreConfig, Value};
    use std::time::Duration;

    fn keyspace(n: usize) -> Keyspace {
        let mut ks = Keyspace::new(StoreConfig::default());
        for i in 0..n {
            ks.set(
                0,
                format!("k{i}").as_bytes(),
                Value::Str(Bytes::from(format!("v{i}"))),
            );
        }
        ks
    }

    fn target(dir: &Path) -> RdbTarget {
        RdbTarget {
            dir: dir.to_path_buf(),
            dbfilename: "dump.rdb".into(),
            opts: WriterOptions::default(),
        }
    }

    fn load_count(path: &Path) -> usize {
        let f = std::io::BufReader::new(File::open(path).unwrap());
        let opts = snapshot::LoadOptions::primary(StoreConfig::default(), 0);
        let loaded = snapshot::load(f, opts, |_| {}).unwrap();
        loaded.dbs.iter().map(|d| d.len()).sum()
    }

    #[test]
    fn save_writes_a_loadable_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path());
        let stats = save_to_disk(&keyspace(100), &t, 1).unwrap();
        assert_eq!(stats.keys, 100);
        assert_eq!(load_count(&t.path()), 100);
        assert!(!t.temp_path(1).exists());
    }

    #[test]
    fn failed_save_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path());
        save_to_disk(&keyspace(3), &t, 1).unwrap();
        let bad = RdbTarget {
            dir: dir.path().join("missing-dir"),
            ..t.clone()
        };
        assert!(matches!(
            save_to_disk(&keyspace(5), &bad, 1),
            Err(SaveError::Open { .. })
        ));
        assert_eq!(load_count(&t.path()), 3);
    }

    #[test]
    fn bgsave_child_writes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path());
        let mut slot = ChildSlot::default();
        let ks = keyspace(1000);
        start_bgsave(&mut slot, &ks, &t, &[]).unwrap();
        let mut exit = None;
        for _ in 0..5000 {
            if let Some(e) = slot.poll() {
                exit = Some(e);
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let exit = exit.expect("child exits");
        assert_eq!(exit.result, Ok(()));
        finish_bgsave(&exit, &t);
        assert_eq!(load_count(&t.path()), 1000);
    }
}
