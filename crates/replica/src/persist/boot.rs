//! Loading the dataset from the AOF at startup, and getting the AOF ready for appending.
//!
//! ## Loading ([`load_aof`], Redis's `loadAppendOnlyFiles`)
//!
//! 1. Upgrade an old single-file AOF: if `dir/<appendfilename>` exists and there is no
//!    usable manifest, move it into the AOF directory and register it as BASE seq 1.
//! 2. Read the manifest. No manifest, or no BASE and no INCR: [`AofBoot::NotExist`].
//! 3. Every file it names must exist (else refuse to start); all empty: [`AofBoot::Empty`].
//! 4. Load the BASE, then each INCR in manifest order. A file starting with `REDIS` is read
//!    as RDB (then any RESP tail after it, for old preamble AOFs); the rest is RESP, applied
//!    command by command through the caller's [`AofSink`] (the node's command path).
//! 5. A torn tail is accepted only in the **last** file and only with
//!    `aof-load-truncated yes`: the file is truncated to the end of its last complete
//!    command (before an unfinished `MULTI`) and loading succeeds. Anything else — bad
//!    bytes, an unknown command, a broken RDB base, a torn non-last file — refuses to start
//!    with the file, the offset, and a pointer to `redis-check-aof`.
//!
//! Nothing partial reaches the dataset silently: every refused case is an error; the only
//! data ever dropped is the torn tail of the last file, and that is logged with its offset.
//!
//! ## Getting ready to append ([`open_for_append`], `aofOpenIfNeededOnServerStart`)
//!
//! Creates the directory, writes an empty-dataset BASE when there is neither BASE nor INCR,
//! opens the last INCR (or a new one) with `O_APPEND`, persists the manifest.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::time::Instant;

use bytes::Bytes;
use ferrokv_proto::aof::{
    AofFile, FileKind, Manifest, NextUnit, RecordError, Truncation, Unit, Units,
};
use ferrokv_store::snapshot::{self, LoadOptions, Loaded, RdbAux, Step};
use ferrokv_store::Keyspace;
use tracing::{info, warn};

use super::aof::{AofError, AofLayout};
use super::rewrite::{self, RewriteOptions};

/// Units applied between two progress reports.
const PROGRESS_EVERY: u64 = 1024;

/// What loading needs from the node.
pub trait AofSink {
    /// Replaces the dataset with a loaded RDB base.
    fn install_rdb(&mut self, loaded: Loaded);
    /// Applies one command, or the commands of one `MULTI`/`EXEC`, the way a client's would
    /// be applied. `Err(name)` only for a command that does not exist (fatal); error
    /// replies of existing commands are ignored, as Redis's AOF client ignores them.
    fn apply(&mut self, commands: &[Vec<Bytes>]) -> Result<(), String>;
    /// Loading progress: bytes done and total over all files, and the current file.
    fn progress(&mut self, _done: u64, _total: u64, _file: &str) {}
}

/// How to load.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// `aof-load-truncated`.
    pub load_truncated: bool,
    /// For RDB bases (expired keys are kept: the AOF's own `DEL`s decide).
    pub rdb: LoadOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Aof(#[from] AofError),
    #[error("The AOF file {name} listed in the manifest {manifest} does not exist ({source}). Use redis-check-aof {manifest} to inspect the AOF directory.")]
    Missing {
        name: String,
        manifest: String,
        source: std::io::Error,
    },
    #[error("Error reading the RDB base file {name} at offset {offset}: {detail}. AOF loading aborted. Use redis-check-aof {manifest} to inspect it.")]
    Rdb {
        name: String,
        offset: u64,
        detail: String,
        manifest: String,
    },
    #[error("Bad file format reading the append only file {name} at offset {offset}: {detail}. Make a backup of your AOF file, then use redis-check-aof --fix {manifest}")]
    Format {
        name: String,
        offset: u64,
        detail: String,
        manifest: String,
    },
    #[error("Unexpected end of file reading the append only file {name} (the last complete command ends at offset {offset}). You can: 1) Make a backup of your AOF file, then use redis-check-aof --fix {manifest}. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.")]
    Truncated {
        name: String,
        offset: u64,
        manifest: String,
    },
    #[error("Fatal error: the truncated file {name} (complete up to offset {offset}) is not the last file. Use redis-check-aof {manifest} to inspect it.")]
    TruncatedNotLast {
        name: String,
        offset: u64,
        manifest: String,
    },
    #[error("Unknown command '{command}' reading the append only file {name} at offset {offset}")]
    UnknownCommand {
        name: String,
        offset: u64,
        command: String,
    },
    #[error("Error truncating the AOF file {name} at offset {offset}: {source}")]
    TruncateFailed {
        name: String,
        offset: u64,
        source: std::io::Error,
    },
    #[error(
        "Unrecoverable error reading the append only file {name} at offset {offset}: {source}"
    )]
    Io {
        name: String,
        offset: u64,
        source: std::io::Error,
    },
}

/// A successful load.
#[derive(Debug)]
pub struct AofLoaded {
    pub manifest: Manifest,
    /// Size of BASE + INCR files after loading (`aof_current_size`).
    pub total_size: u64,
    /// Size of the BASE (`aof_base_size` until the next rewrite).
    pub base_size: u64,
    /// Commands (or transactions) applied from RESP files.
    pub units: u64,
    /// `(file, offset)` when the last file's torn tail was cut.
    pub truncated: Option<(String, u64)>,
    /// Aux fields of an RDB base.
    pub base_aux: Option<RdbAux>,
}

#[derive(Debug)]
pub enum AofBoot {
    /// No AOF yet (the manifest, if any, lists nothing).
    NotExist(Option<Manifest>),
    /// Files exist but all are empty.
    Empty(Manifest),
    Loaded(Box<AofLoaded>),
}

/// Steps 1-5 of the module doc.
pub fn load_aof(
    layout: &AofLayout,
    opts: &BootOptions,
    sink: &mut dyn AofSink,
) -> Result<AofBoot, BootError> {
    let mut manifest = layout.load_manifest()?;
    upgrade_old_aof(layout, &mut manifest)?;
    let Some(manifest) = manifest else {
        return Ok(AofBoot::NotExist(None));
    };
    if manifest.is_empty() {
        return Ok(AofBoot::NotExist(Some(manifest)));
    }
    let mpath = layout.manifest_path().display().to_string();
    let files: Vec<AofFile> = manifest.files_to_load().cloned().collect();
    let mut total = 0u64;
    for f in &files {
        match fs::metadata(layout.path(&f.name)) {
            Ok(m) => total += m.len(),
            Err(source) => {
                return Err(BootError::Missing {
                    name: f.name.clone(),
                    manifest: mpath,
                    source,
                })
            }
        }
    }
    if total == 0 {
        return Ok(AofBoot::Empty(manifest));
    }
    let mut done_before = 0u64;
    let mut out = AofLoaded {
        manifest: manifest.clone(),
        total_size: 0,
        base_size: 0,
        units: 0,
        truncated: None,
        base_aux: None,
    };
    for (i, f) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let started = Instant::now();
        let size = layout.file_size(&f.name);
        let mut ctx = FileCtx {
            layout,
            file: f,
            manifest: &mpath,
            done_before,
            total,
            sink: &mut *sink,
        };
        let loaded = ctx.load(opts, &mut out)?;
        if let Some(valid_up_to) = loaded.truncated {
            if !last {
                return Err(BootError::TruncatedNotLast {
                    name: f.name.clone(),
                    offset: valid_up_to,
                    manifest: mpath,
                });
            }
            if !opts.load_truncated {
                return Err(BootError::Truncated {
                    name: f.name.clone(),
                    offset: valid_up_to,
                    manifest: mpath,
                });
            }
            warn!(
                "!!! Warning: short read while loading the AOF file {}!!!",
                f.name
            );
            warn!(
                "!!! Truncating the AOF {} at offset {valid_up_to} !!!",
                f.name
            );
            truncate(layout, &f.name, valid_up_to)?;
            warn!(
                "AOF {} loaded anyway because aof-load-truncated is enabled",
                f.name
            );
            out.truncated = Some((f.name.clone(), valid_up_to));
        }
        let kind = if f.kind == FileKind::Base {
            "base"
        } else {
            "incr"
        };
        info!(
            "DB loaded from {kind} file {}: {:.3} seconds",
            f.name,
            started.elapsed().as_secs_f64()
        );
        if f.kind == FileKind::Base {
            out.base_size = layout.file_size(&f.name);
        }
        done_before += size;
    }
    out.total_size = files.iter().map(|f| layout.file_size(&f.name)).sum();
    Ok(AofBoot::Loaded(Box::new(out)))
}

fn truncate(layout: &AofLayout, name: &str, at: u64) -> Result<(), BootError> {
    let err = |source| BootError::TruncateFailed {
        name: name.to_string(),
        offset: at,
        source,
    };
    let f = OpenOptions::new()
        .write(true)
        .open(layout.path(name))
        .map_err(err)?;
    f.set_len(at).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Step 1 of the module doc (Redis's `aofUpgradePrepare` conditions).
fn upgrade_old_aof(layout: &AofLayout, manifest: &mut Option<Manifest>) -> Result<(), BootError> {
    let old = layout.dir.join(&layout.filename);
    if !old.is_file() {
        return Ok(());
    }
    let needed = match manifest {
        None => true,
        Some(m) if m.is_empty() => true,
        Some(m) => {
            m.incrs.is_empty()
                && m.base.as_ref().is_some_and(|b| b.name == layout.filename)
                && !layout.path(&layout.filename).exists()
        }
    };
    if !needed {
        return Ok(());
    }
    layout.create_dir()?;
    let m = Manifest {
        base: Some(AofFile {
            name: layout.filename.clone(),
            seq: 1,
            kind: FileKind::Base,
        }),
        curr_base_seq: 1,
        ..Manifest::default()
    };
    layout.persist_manifest(&m)?;
    fs::rename(&old, layout.path(&layout.filename)).map_err(AofError::Io)?;
    info!(
        "Successfully migrated an old-style AOF file ({}) into the AOF directory ({}).",
        layout.filename, layout.dirname
    );
    *manifest = Some(m);
    Ok(())
}

struct FileCtx<'a> {
    layout: &'a AofLayout,
    file: &'a AofFile,
    manifest: &'a str,
    done_before: u64,
    total: u64,
    sink: &'a mut dyn AofSink,
}

struct FileLoaded {
    /// `Some(valid_up_to)` when the file ends inside a command or transaction.
    truncated: Option<u64>,
}

impl FileCtx<'_> {
    fn name(&self) -> String {
        self.file.name.clone()
    }

    fn io(&self, offset: u64, source: std::io::Error) -> BootError {
        BootError::Io {
            name: self.name(),
            offset,
            source,
        }
    }

    fn load(&mut self, opts: &BootOptions, out: &mut AofLoaded) -> Result<FileLoaded, BootError> {
        let path = self.layout.path(&self.file.name);
        let mut f = File::open(&path).map_err(|e| self.io(0, e))?;
        let size = f.metadata().map_err(|e| self.io(0, e))?.len();
        if size == 0 {
            return Ok(FileLoaded { truncated: None });
        }
        let mut sig = [0u8; 5];
        let is_rdb = f.read_exact(&mut sig).is_ok() && &sig == b"REDIS";
        let mut start = 0u64;
        if is_rdb {
            if self.file.name == self.layout.filename {
                info!("Reading RDB preamble from AOF file...");
            } else {
                info!("Reading RDB base file on AOF loading...");
            }
            f.seek(SeekFrom::Start(0)).map_err(|e| self.io(0, e))?;
            let loaded = self.load_rdb(BufReader::with_capacity(1 << 16, &mut f), opts)?;
            start = loaded.bytes;
            out.base_aux = Some(loaded.aux.clone());
            self.sink.install_rdb(loaded);
            if start < size && self.file.name == self.layout.filename {
                info!("Reading the remaining AOF tail...");
            }
        }
        f.seek(SeekFrom::Start(start))
            .map_err(|e| self.io(start, e))?;
        self.replay(BufReader::with_capacity(1 << 16, f), start, out)
    }

    fn load_rdb<R: std::io::BufRead>(
        &mut self,
        input: R,
        opts: &BootOptions,
    ) -> Result<Loaded, BootError> {
        let rdb_err = |offset: u64, detail: String, name: String, manifest: &str| BootError::Rdb {
            name,
            offset,
            detail,
            manifest: manifest.to_string(),
        };
        let mut loader = snapshot::Loader::new(input, opts.rdb.clone())
            .map_err(|e| rdb_err(e.offset(), e.to_string(), self.name(), self.manifest))?;
        loop {
            match loader.step(1024) {
                Ok(Step::More) => {
                    let p = loader.progress();
                    self.sink
                        .progress(self.done_before + p.bytes, self.total, &self.file.name);
                }
                Ok(Step::Done) => break,
                Err(e) => {
                    return Err(rdb_err(
                        e.offset(),
                        e.to_string(),
                        self.name(),
                        self.manifest,
                    ))
                }
            }
        }
        loader
            .finish()
            .map_err(|e| rdb_err(e.offset(), e.to_string(), self.name(), self.manifest))
    }

    fn replay<R: Read>(
        &mut self,
        input: R,
        start: u64,
        out: &mut AofLoaded,
    ) -> Result<FileLoaded, BootError> {
        let mut units = Units::new(input, start);
        let mut n = 0u64;
        loop {
            let next = units.next_unit().map_err(|e| match e {
                RecordError::Format { offset, detail } => BootError::Format {
                    name: self.name(),
                    offset,
                    detail,
                    manifest: self.manifest.to_string(),
                },
                RecordError::Io { offset, source } => self.io(offset, source),
            })?;
            let (cmds, offset) = match next {
                NextUnit::Unit(Unit::Command(c)) => (vec![c.argv], c.start),
                NextUnit::Unit(Unit::Transaction {
                    commands, start, ..
                }) => (commands.into_iter().map(|c| c.argv).collect(), start),
                NextUnit::End => return Ok(FileLoaded { truncated: None }),
                NextUnit::Truncated { valid_up_to, why } => {
                    if why == Truncation::OpenMulti {
                        warn!(
                            "Revert incomplete MULTI/EXEC transaction in AOF file {}",
                            self.file.name
                        );
                    }
                    return Ok(FileLoaded {
                        truncated: Some(valid_up_to),
                    });
                }
            };
            self.sink
                .apply(&cmds)
                .map_err(|command| BootError::UnknownCommand {
                    name: self.name(),
                    offset,
                    command,
                })?;
            n += 1;
            out.units += 1;
            if n.is_multiple_of(PROGRESS_EVERY) {
                self.sink.progress(
                    self.done_before + units.offset(),
                    self.total,
                    &self.file.name,
                );
            }
        }
    }
}

/// Getting ready to append (see the module doc). `manifest`: what loading found (`None`
/// when there was none). `ks` is the loaded dataset (used only when a BASE must be
/// written). Returns the manifest (persisted), the open INCR and its name.
pub fn open_for_append(
    layout: &AofLayout,
    manifest: Option<Manifest>,
    ks: &Keyspace,
    opts: &RewriteOptions,
) -> Result<(Manifest, File, String), AofError> {
    layout.create_dir()?;
    let mut m = manifest.unwrap_or_default();
    if m.base.is_none() && m.incrs.is_empty() {
        let base = m.new_base(&layout.filename, opts.preamble);
        rewrite::write_base_file(ks, &layout.path(&base), opts)?;
        info!("Creating AOF base file {base} on server start");
    }
    let existing = !m.incrs.is_empty();
    let name = m.last_incr_or_new(&layout.filename);
    let file = layout.open_append(&name)?;
    layout.persist_manifest(&m)?;
    if existing {
        info!("Opening AOF incr file {name} on server start");
    } else {
        info!("Creating AOF incr file {name} on server start");
    }
    Ok((m, file, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use ferrokv_proto::rdb::WriterOptions;
    use ferrokv_proto::resp::encode_command;
    use ferrokv_store::{StoreConfig, Value};

    #[derive(Default)]
    struct Recorder {
        rdb_keys: u64,
        applied: Vec<Vec<Vec<Bytes>>>,
    }

    impl AofSink for Recorder {
        fn install_rdb(&mut self, loaded: Loaded) {
            self.rdb_keys += loaded.keys_loaded;
        }
        fn apply(&mut self, commands: &[Vec<Bytes>]) -> Result<(), String> {
            if commands.iter().any(|c| &c[0][..] == b"NOSUCH") {
                return Err("NOSUCH".into());
            }
            self.applied.push(commands.to_vec());
            Ok(())
        }
    }

    fn opts(truncated: bool) -> BootOptions {
        BootOptions {
            load_truncated: truncated,
            rdb: LoadOptions {
                cfg: StoreConfig::default(),
                now_ms: 0,
                drop_expired: false,
            },
        }
    }

    fn layout(d: &std::path::Path) -> AofLayout {
        AofLayout {
            dir: d.to_path_buf(),
            dirname: "appendonlydir".into(),
            filename: "appendonly.aof".into(),
        }
    }

    fn cmds(list: &[&[&str]]) -> Vec<u8> {
        let mut b = BytesMut::new();
        for c in list {
            let argv: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
            encode_command(&argv, &mut b);
        }
        b.to_vec()
    }

    /// A fresh directory as `open_for_append` leaves it, with `incr` as the INCR's bytes.
    fn setup(d: &std::path::Path, keys: usize, incr: &[u8]) -> AofLayout {
        let l = layout(d);
        let mut ks = Keyspace::new(StoreConfig::default());
        for i in 0..keys {
            ks.set(
                0,
                format!("k{i}").as_bytes(),
                Value::Str(Bytes::from_static(b"v")),
            );
        }
        let ro = RewriteOptions {
            preamble: true,
            rdb: WriterOptions::default(),
        };
        let (_, f, _) = open_for_append(&l, None, &ks, &ro).unwrap();
        drop(f);
        fs::write(l.path("appendonly.aof.1.incr.aof"), incr).unwrap();
        l
    }

    #[test]
    fn loads_base_then_incr_in_order() {
        let d = tempfile::tempdir().unwrap();
        let incr = cmds(&[
            &["SELECT", "0"],
            &["SET", "a", "1"],
            &["MULTI"],
            &["DEL", "a"],
            &["SET", "b", "2"],
            &["EXEC"],
        ]);
        let l = setup(d.path(), 5, &incr);
        let mut r = Recorder::default();
        let AofBoot::Loaded(out) = load_aof(&l, &opts(true), &mut r).unwrap() else {
            panic!()
        };
        assert_eq!(r.rdb_keys, 5);
        assert_eq!(r.applied.len(), 3);
        assert_eq!(r.applied[2].len(), 2);
        assert!(out.base_aux.unwrap().aof_base);
        assert_eq!(out.truncated, None);
        assert_eq!(out.total_size, out.base_size + incr.len() as u64);
    }

    #[test]
    fn torn_tail_is_cut_with_load_truncated_and_refused_without() {
        let d = tempfile::tempdir().unwrap();
        let good = cmds(&[&["SELECT", "0"], &["SET", "a", "1"]]);
        let torn = [good.clone(), b"*3\r\n$3\r\nSET\r\n$1\r\nb".to_vec()].concat();
        let l = setup(d.path(), 0, &torn);
        let e = load_aof(&l, &opts(false), &mut Recorder::default()).unwrap_err();
        assert!(
            matches!(e, BootError::Truncated { offset, .. } if offset == good.len() as u64),
            "{e}"
        );
        assert!(e.to_string().contains("redis-check-aof --fix"));
        let mut r = Recorder::default();
        let AofBoot::Loaded(out) = load_aof(&l, &opts(true), &mut r).unwrap() else {
            panic!()
        };
        assert_eq!(
            out.truncated,
            Some(("appendonly.aof.1.incr.aof".into(), good.len() as u64))
        );
        assert_eq!(fs::read(l.path("appendonly.aof.1.incr.aof")).unwrap(), good);
        assert_eq!(r.applied.len(), 2);
    }

    #[test]
    fn torn_non_last_file_is_fatal() {
        let d = tempfile::tempdir().unwrap();
        let l = setup(d.path(), 0, b"*2\r\n$6\r\nSELECT\r\n$1\r\n");
        let mut m = l.load_manifest().unwrap().unwrap();
        let next = m.new_incr("appendonly.aof");
        fs::write(l.path(&next), cmds(&[&["SET", "x", "y"]])).unwrap();
        l.persist_manifest(&m).unwrap();
        let e = load_aof(&l, &opts(true), &mut Recorder::default()).unwrap_err();
        assert!(matches!(e, BootError::TruncatedNotLast { .. }), "{e}");
    }

    #[test]
    fn garbage_missing_file_and_unknown_command_refuse_to_start() {
        let d = tempfile::tempdir().unwrap();
        let garbage = [
            cmds(&[&["SET", "a", "1"]]),
            b"xx garbage\r\n".to_vec(),
            cmds(&[&["SET", "b", "1"]]),
        ]
        .concat();
        let l = setup(d.path(), 0, &garbage);
        let e = load_aof(&l, &opts(true), &mut Recorder::default()).unwrap_err();
        assert!(matches!(e, BootError::Format { offset: 27, .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("appendonly.aof.1.incr.aof")
                && msg.contains("offset 27")
                && msg.contains("redis-check-aof"),
            "{msg}"
        );

        fs::write(
            l.path("appendonly.aof.1.incr.aof"),
            cmds(&[&["NOSUCH", "x"]]),
        )
        .unwrap();
        let e = load_aof(&l, &opts(true), &mut Recorder::default()).unwrap_err();
        assert!(matches!(e, BootError::UnknownCommand { .. }), "{e}");

        fs::remove_file(l.path("appendonly.aof.1.incr.aof")).unwrap();
        let e = load_aof(&l, &opts(true), &mut Recorder::default()).unwrap_err();
        assert!(matches!(e, BootError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("redis-check-aof"));
    }

    #[test]
    fn corrupt_rdb_base_is_fatal() {
        let d = tempfile::tempdir().unwrap();
        let l = setup(d.path(), 3, b"");
        let base = l.path("appendonly.aof.1.base.rdb");
        let mut bytes = fs::read(&base).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0xff;
        fs::write(&base, bytes).unwrap();
        let e = load_aof(&l, &opts(true), &mut Recorder::default()).unwrap_err();
        assert!(matches!(e, BootError::Rdb { .. }), "{e}");
    }

    #[test]
    fn nothing_there_and_old_single_file_upgrade() {
        let d = tempfile::tempdir().unwrap();
        let l = layout(d.path());
        assert!(matches!(
            load_aof(&l, &opts(true), &mut Recorder::default()).unwrap(),
            AofBoot::NotExist(None)
        ));
        fs::write(d.path().join("appendonly.aof"), cmds(&[&["SET", "a", "1"]])).unwrap();
        let mut r = Recorder::default();
        assert!(matches!(
            load_aof(&l, &opts(true), &mut r).unwrap(),
            AofBoot::Loaded(_)
        ));
        assert_eq!(r.applied.len(), 1);
        assert!(l.path("appendonly.aof").exists());
        assert_eq!(
            fs::read_to_string(l.manifest_path()).unwrap(),
            "file appendonly.aof seq 1 type b\n"
        );
    }
}
