//! The node's RDB file on disk: `SAVE`, `DEBUG RELOAD`, and loading `dir/dbfilename` at
//! startup. (BGSAVE and the `save` rules are in `bgsave.rs`; the atomic temp-file + fsync +
//! rename write is `ferrokv_replica::persist::rdb_file::save_to_disk`.)
//!
//! ## Startup loading
//!
//! [`load_at_startup`] runs inside `serve` after the listeners accept connections and before
//! the node logs "Ready to accept connections":
//!
//! 1. Open the file (none: start empty, as Redis does) and note its size.
//! 2. Set [`Node::loading`] (through [`loading::run`], shared with the AOF): INFO shows `loading:1` and the `loading_*` fields, and every
//!    command without the `loading` flag gets `-LOADING Redis is loading the dataset in
//!    memory` (the node's gatekeeping checks it).
//! 3. Read the file with a [`Loader`] into *fresh* databases, a batch of items at a time,
//!    yielding to the runtime after each batch so connections are served meanwhile.
//! 4. Only once EOF and the checksum were read, swap the new databases in and clear
//!    `loading`. Any error (truncation, bad checksum, bad data, a database out of range)
//!    makes `serve` fail with the error and its byte offset: the process exits, as Redis
//!    does, and never runs with a partial dataset.
//!
//! Logs follow Redis: "Loading RDB produced by version ...", "RDB age N seconds", "RDB
//! memory usage when created N Mb", "Done loading RDB, keys loaded: N, keys expired: M.",
//! "DB loaded from disk: S seconds".
//!
//! ## Deviations
//!
//! - With `appendonly yes` the RDB file is not loaded here: boot from the AOF belongs to
//!   the durability code (Redis too loads the AOF instead of the RDB then).
//! - `DEBUG RELOAD` keeps the old dataset when the reload fails (Redis has flushed it
//!   already), and `NOFLUSH` without `MERGE` refuses duplicates instead of crashing.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use ferrokv_proto::resp::Frame;
use ferrokv_replica::persist::rdb_file::{save_to_disk, SaveError};
use ferrokv_store::cmd::{CmdError, KeySpec, Spec, ADMIN, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI};
use ferrokv_store::fork::ChildKind;
use ferrokv_store::snapshot::{
    self, LoadError, LoadOptions, Loaded, Loader, RdbAux, SaveStats, Step,
};
use tracing::{info, warn};

use crate::client::ClientId;
use crate::commands::NodeHandler;
use crate::loading::{self, Progress};
use crate::node::{unix_ms, Node};

/// Items read per loading step.
const STEP_ITEMS: usize = 256;

pub static COMMANDS: &[Spec<NodeHandler>] = &[Spec {
    name: "save",
    arity: 1,
    flags: ADMIN | NOSCRIPT | NO_MULTI | NO_ASYNC_LOADING,
    keys: KeySpec::None,
    run: save,
}];

/// Why the RDB file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RdbFileError {
    #[error("Fatal error loading the DB, can't open {path}: {source}. Exiting.")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("Fatal error loading the DB from {path}: {source}. Exiting.")]
    Load { path: String, source: LoadError },
}

impl From<RdbFileError> for std::io::Error {
    fn from(e: RdbFileError) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}

fn rdb_path(node: &Node) -> PathBuf {
    PathBuf::from(&node.cfg.dir).join(&node.cfg.dbfilename)
}

fn load_options(node: &Node) -> LoadOptions {
    LoadOptions {
        cfg: node.ks.cfg.clone(),
        now_ms: unix_ms(),
        drop_expired: !node.is_replica(),
    }
}

/// Opens the RDB file: `Ok(None)` when there is none.
fn open(path: &Path) -> Result<Option<(File, u64)>, RdbFileError> {
    let err = |source| RdbFileError::Open {
        path: path.display().to_string(),
        source,
    };
    match File::open(path) {
        Ok(f) => {
            let len = f.metadata().map_err(err)?.len();
            Ok(Some((f, len)))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(e)),
    }
}

fn log_aux(aux: &RdbAux) {
    if let Some(v) = &aux.redis_ver {
        info!("Loading RDB produced by version {v}");
    }
    if let Some(ctime) = aux.ctime {
        info!("RDB age {} seconds", (unix_ms() / 1000 - ctime).max(0));
    }
    if let Some(mem) = aux.used_mem {
        info!(
            "RDB memory usage when created {:.2} Mb",
            mem as f64 / (1024.0 * 1024.0)
        );
    }
}

fn log_done(loaded: &Loaded, started: Instant) {
    info!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        loaded.keys_loaded, loaded.keys_expired
    );
    if loaded.empty_skipped > 0 {
        warn!(
            "Skipped {} empty keys while loading the RDB",
            loaded.empty_skipped
        );
    }
    info!(
        "DB loaded from disk: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
}

/// Loads `dir/dbfilename` into the node at startup (see the module doc). Returns once the
/// dataset is in place, with the file's aux fields (`repl-id`, `repl-offset`... for a
/// restarted replica), or `None` when there was no file; an error means the process must
/// not serve.
pub async fn load_at_startup(node: &Rc<RefCell<Node>>) -> Result<Option<RdbAux>, RdbFileError> {
    let (path, opts) = {
        let n = node.borrow();
        if n.cfg.appendonly {
            return Ok(None);
        }
        (rdb_path(&n), load_options(&n))
    };
    let Some((file, total)) = open(&path)? else {
        return Ok(None);
    };
    let started = Instant::now();
    let loaded = load_steps(node, file, total, opts, &path).await?;
    log_done(&loaded, started);
    let mut n = node.borrow_mut();
    n.bgsave.note_load(&loaded);
    n.ks.replace_dbs(loaded.dbs);
    drop(n);
    Ok(Some(loaded.aux))
}

/// Step 3 of the module doc.
async fn load_steps(
    node: &Rc<RefCell<Node>>,
    file: File,
    total: u64,
    opts: LoadOptions,
    path: &Path,
) -> Result<Loaded, RdbFileError> {
    let fail = |source| RdbFileError::Load {
        path: path.display().to_string(),
        source,
    };
    let mut loader =
        Loader::threaded(BufReader::with_capacity(1 << 16, file), opts).map_err(fail)?;
    let mut aux_logged = false;
    loading::run(node, total, |_| {
        let step = loader.step(STEP_ITEMS).map_err(fail)?;
        let progress = loader.progress();
        if !aux_logged && (step == Step::Done || progress.keys > 0) {
            aux_logged = true;
            log_aux(loader.aux());
        }
        Ok(Progress {
            done: step == Step::Done,
            bytes: progress.bytes,
            rdb_used_mem: loader.aux().used_mem.map(|m| m.max(0) as u64),
        })
    })
    .await?;
    loader.finish().map_err(fail)
}

/// Loads the RDB file synchronously (DEBUG RELOAD).
fn load_now(node: &Node) -> Result<Option<Loaded>, RdbFileError> {
    let path = rdb_path(node);
    let Some((file, _)) = open(&path)? else {
        return Ok(None);
    };
    snapshot::load_file(file, load_options(node))
        .map(Some)
        .map_err(|source| RdbFileError::Load {
            path: path.display().to_string(),
            source,
        })
}

/// Saves the dataset to `dir/dbfilename` in this process (SAVE, DEBUG RELOAD), with the
/// bookkeeping Redis's `rdbSave` does on success.
pub fn save_now(node: &mut Node) -> Result<SaveStats, SaveError> {
    node.prepare_clock_for_save();
    let target = crate::bgsave::rdb_target(node);
    match save_to_disk(&node.ks, &target, std::process::id()) {
        Ok(stats) => {
            info!("DB saved on disk");
            node.dirty = 0;
            node.lastsave_ms = unix_ms();
            node.bgsave.last_ok = true;
            node.bgsave.saves += 1;
            Ok(stats)
        }
        Err(e) => {
            warn!("{e}");
            Err(e)
        }
    }
}

fn save(node: &mut Node, _: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    if node
        .children
        .running()
        .is_some_and(|c| c.kind == ChildKind::Rdb)
    {
        return Err(CmdError::msg("Background save already in progress"));
    }
    match save_now(node) {
        Ok(_) => Ok(Frame::OK),
        // Redis replies a bare "-ERR" (shared.err).
        Err(_) => Ok(Frame::Error(Bytes::from_static(b"ERR"))),
    }
}

/// `DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]`: save (unless NOSAVE), then load the file back
/// into an empty dataset (or into the current one with NOFLUSH; MERGE lets file keys
/// replace existing ones).
pub fn debug_reload(node: &mut Node, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for opt in &argv[2..] {
        match opt.to_ascii_lowercase().as_slice() {
            b"merge" => merge = true,
            b"noflush" => flush = false,
            b"nosave" => save = false,
            _ => {
                return Err(CmdError::msg(
                    "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                ))
            }
        }
    }
    if save && save_now(node).is_err() {
        return Ok(Frame::Error(Bytes::from_static(b"ERR")));
    }
    let reload_failed = || CmdError::msg("Error trying to load the RDB dump, check server logs.");
    let loaded = match load_now(node) {
        Ok(loaded) => loaded,
        Err(e) => {
            warn!("{e}");
            return Err(reload_failed());
        }
    };
    if let Some(l) = &loaded {
        node.bgsave.note_load(l);
    }
    let dbs = loaded
        .map(|l| l.dbs)
        .unwrap_or_else(|| (0..node.ks.dbs.len()).map(|_| Default::default()).collect());
    if flush {
        node.ks.replace_dbs(dbs);
    } else {
        if !merge {
            let dup = dbs.iter().zip(&node.ks.dbs).find_map(|(new, old)| {
                new.map
                    .keys()
                    .find(|k| old.map.contains_key(k.as_slice()))
                    .map(|k| k.to_bytes())
            });
            if let Some(k) = dup {
                warn!("RDB has duplicated key '{}'", String::from_utf8_lossy(&k));
                return Err(reload_failed());
            }
        }
        for (new, old) in dbs.into_iter().zip(node.ks.dbs.iter_mut()) {
            for (k, e) in new.map {
                let at = new.expires.get(k.as_slice()).copied();
                old.put(k.as_slice(), e, at);
            }
        }
    }
    node.touch_all();
    crate::tracking::invalidate_all(node);
    warn!("DB reloaded by DEBUG RELOAD");
    Ok(Frame::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn node_in(dir: &std::path::Path) -> Node {
        let cfg = Config {
            dir: dir.display().to_string(),
            ..Config::default()
        };
        Node::new(cfg, None)
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ferrokv-rdbfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn set(node: &mut Node, key: &str, value: &str) {
        node.ks.set(
            0,
            key.as_bytes(),
            ferrokv_store::Value::Str(Bytes::copy_from_slice(value.as_bytes())),
        );
    }

    fn get(node: &Node, key: &str) -> Option<Bytes> {
        match &node.ks.dbs[0].map.get(key.as_bytes())?.value {
            ferrokv_store::Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn run_local<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    #[test]
    fn save_then_startup_load_restores_the_dataset() {
        let dir = tempdir("startup");
        let mut node = node_in(&dir);
        set(&mut node, "a", "1");
        set(&mut node, "b", "hello");
        node.dirty = 5;
        assert_eq!(save(&mut node, 1, &[]).unwrap(), Frame::OK);
        assert_eq!(node.dirty, 0);
        assert_eq!(node.bgsave.saves, 1);
        assert!(dir.join("dump.rdb").exists());

        let fresh = Rc::new(RefCell::new(node_in(&dir)));
        let aux = run_local(load_at_startup(&fresh))
            .unwrap()
            .expect("a file was loaded");
        assert_eq!(
            aux.redis_ver.as_deref(),
            Some(ferrokv_proto::rdb::REDIS_VER)
        );
        let n = fresh.borrow();
        assert!(n.loading.is_none());
        assert_eq!(get(&n, "a").as_deref(), Some(&b"1"[..]));
        assert_eq!(get(&n, "b").as_deref(), Some(&b"hello"[..]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_starts_empty() {
        let dir = tempdir("missing");
        let node = Rc::new(RefCell::new(node_in(&dir)));
        assert!(run_local(load_at_startup(&node)).unwrap().is_none());
        assert_eq!(node.borrow().ks.dbsize(0), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_fails_with_its_offset_and_loads_nothing() {
        let dir = tempdir("corrupt");
        let mut node = node_in(&dir);
        for i in 0..100 {
            set(&mut node, &format!("k{i}"), "v");
        }
        save_now(&mut node).unwrap();
        let path = dir.join("dump.rdb");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
        let fresh = Rc::new(RefCell::new(node_in(&dir)));
        let err = run_local(load_at_startup(&fresh)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("offset"), "{text}");
        assert!(matches!(err, RdbFileError::Load { .. }));
        assert_eq!(fresh.borrow().ks.dbsize(0), 0);
        assert!(fresh.borrow().loading.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_reload_saves_and_loads_back() {
        let dir = tempdir("reload");
        let mut node = node_in(&dir);
        set(&mut node, "a", "1");
        let argv = |extra: &[&str]| {
            let mut v = vec![Bytes::from_static(b"DEBUG"), Bytes::from_static(b"RELOAD")];
            v.extend(extra.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())));
            v
        };
        assert_eq!(debug_reload(&mut node, &argv(&[])).unwrap(), Frame::OK);
        assert_eq!(get(&node, "a").as_deref(), Some(&b"1"[..]));
        // NOSAVE reloads the file as it is: changes since the save are lost.
        set(&mut node, "b", "2");
        assert_eq!(
            debug_reload(&mut node, &argv(&["NOSAVE"])).unwrap(),
            Frame::OK
        );
        assert!(get(&node, "b").is_none());
        // NOFLUSH without MERGE refuses keys present in both.
        set(&mut node, "c", "3");
        assert!(debug_reload(&mut node, &argv(&["NOSAVE", "NOFLUSH"])).is_err());
        assert_eq!(get(&node, "c").as_deref(), Some(&b"3"[..]));
        set(&mut node, "a", "changed");
        assert_eq!(
            debug_reload(&mut node, &argv(&["NOSAVE", "NOFLUSH", "MERGE"])).unwrap(),
            Frame::OK
        );
        assert_eq!(get(&node, "a").as_deref(), Some(&b"1"[..]));
        assert_eq!(get(&node, "c").as_deref(), Some(&b"3"[..]));
        assert_eq!(
            debug_reload(&mut node, &argv(&["BOGUS"]))
                .unwrap_err()
                .to_line(),
            "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
