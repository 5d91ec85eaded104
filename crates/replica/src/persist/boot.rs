//! Loading the dataset from the AOF at startup, and getting the AOF ready for appending.
//!
//! ## Loading ([`begin`] + [`AofLoader`], or [`load_aof`] in one call; Redis's
//! `loadAppendOnlyFiles`)
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
//! [`AofLoader::step`] does a bounded amount of work (opening a file, or up to N RDB items or
//! commands) so the node can serve `-LOADING` and INFO `loading_*` between steps;
//! [`AofLoader::progress`] counts bytes over all files, against [`AofLoader::total`].
//!
//! Nothing partial reaches the dataset silently: every refused case is an error; the only
//! data ever dropped is the torn tail of the last file, and that is logged with its offset.
//!
//! ## Replication position (ferrokv extension)
//!
//! A replica's AOF says where its dataset stands in the primary's stream (see
//! `ferrokv_proto::aof::repl_mark` and the `rewrite` module): the BASE's `repl-id`/
//! `repl-offset`/`repl-stream-db` aux fields (RDB preamble) or a leading mark line (RESP
//! base), then a mark line after the commands of every write to an INCR. Loading follows
//! them in file order: a mark sets the position and clears "commands since"; each applied
//! command or transaction sets it. [`AofLoaded::repl`] is then:
//!
//! - [`ReplPosition::At`] when nothing was applied after the last mark: the dataset is
//!   exactly the stream up to that offset, so the replica may `PSYNC <replid> <offset+1>`;
//! - [`ReplPosition::CommandsAfter`] when commands follow it — a write cut by a crash
//!   before its mark (whatever of it survived is applied and the offset it reached is
//!   unknown), or local writes after the node stopped being a replica: a full resync;
//! - [`ReplPosition::Unknown`] when no file carries a position (a primary's AOF, Redis's).
//!
//! A torn tail cut by `aof-load-truncated` takes its commands away, not the marks before it.
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
    AofFile, FileKind, Manifest, NextUnit, RecordError, ReplMark, Truncation, Unit, Units,
};
use ferrokv_store::snapshot::{self, LoadOptions, Loaded, RdbAux, Step};
use ferrokv_store::Keyspace;
use tracing::{info, warn};

use super::aof::{AofError, AofLayout};
use super::rewrite::{self, RewriteOptions};

/// RDB items or commands per step of [`load_aof`].
const STEP_UNITS: usize = 1024;

/// How the commands handed to [`AofSink::apply`] appear in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// One command on its own.
    Single,
    /// The commands between a `MULTI` and its `EXEC` (both left out), possibly none.
    Transaction,
}

/// What loading needs from the node.
pub trait AofSink {
    /// Replaces the dataset with a loaded RDB base.
    fn install_rdb(&mut self, loaded: Loaded);
    /// Applies one command, or the commands of one `MULTI`/`EXEC`, the way a client's would
    /// be applied. `Err(name)` only for a command that does not exist (fatal); error
    /// replies of existing commands go to no client (the sink may count and log them, as
    /// Redis does for its AOF client).
    fn apply(&mut self, commands: &[Vec<Bytes>], batch: Batch) -> Result<(), String>;
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
    /// Where the dataset stands in the replication history (see the module doc).
    pub repl: ReplPosition,
}

/// The replication position the loaded files describe (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplPosition {
    /// No file carries one.
    Unknown,
    /// The dataset is exactly the primary's stream up to this mark.
    At(ReplMark),
    /// Commands were applied after the last mark: the offset they reached is unknown.
    CommandsAfter(ReplMark),
}

impl ReplPosition {
    /// The position of an RDB base's replication aux fields, if it has valid ones.
    fn from_aux(aux: &RdbAux) -> Option<ReplMark> {
        let id = std::str::from_utf8(aux.repl_id.as_deref()?).ok()?;
        let offset = u64::try_from(aux.repl_offset?).ok()?;
        let db = u32::try_from(aux.repl_stream_db.unwrap_or(0)).ok()?;
        ReplMark::new(id, offset, db)
    }
}

#[derive(Debug)]
pub enum AofBoot {
    /// No AOF yet (the manifest, if any, lists nothing).
    NotExist(Option<Manifest>),
    /// Files exist but all are empty.
    Empty(Manifest),
    Loaded(Box<AofLoaded>),
}

/// What [`begin`] found.
pub enum Begin {
    /// Nothing to load: no AOF yet, or only empty files.
    Done(AofBoot),
    /// Files to load: call [`AofLoader::step`] until it returns [`Step::Done`].
    Load(Box<AofLoader>),
}

/// Steps 1-3 of the module doc: finds the files to load and their total size.
pub fn begin(layout: &AofLayout, opts: &BootOptions) -> Result<Begin, BootError> {
    let mut manifest = layout.load_manifest()?;
    upgrade_old_aof(layout, &mut manifest)?;
    let Some(manifest) = manifest else {
        return Ok(Begin::Done(AofBoot::NotExist(None)));
    };
    if manifest.is_empty() {
        return Ok(Begin::Done(AofBoot::NotExist(Some(manifest))));
    }
    let manifest_path = layout.manifest_path().display().to_string();
    let files: Vec<AofFile> = manifest.files_to_load().cloned().collect();
    let mut total = 0u64;
    for f in &files {
        match fs::metadata(layout.path(&f.name)) {
            Ok(m) => total += m.len(),
            Err(source) => {
                return Err(BootError::Missing {
                    name: f.name.clone(),
                    manifest: manifest_path,
                    source,
                })
            }
        }
    }
    if total == 0 {
        return Ok(Begin::Done(AofBoot::Empty(manifest)));
    }
    Ok(Begin::Load(Box::new(AofLoader {
        layout: layout.clone(),
        opts: opts.clone(),
        manifest_path,
        files,
        total,
        next: 0,
        done_before: 0,
        current: None,
        out: AofLoaded {
            manifest,
            total_size: 0,
            base_size: 0,
            units: 0,
            truncated: None,
            base_aux: None,
            repl: ReplPosition::Unknown,
        },
        mark: None,
        after_mark: false,
    })))
}

/// Steps 1-5 of the module doc in one call.
pub fn load_aof(
    layout: &AofLayout,
    opts: &BootOptions,
    sink: &mut dyn AofSink,
) -> Result<AofBoot, BootError> {
    match begin(layout, opts)? {
        Begin::Done(boot) => Ok(boot),
        Begin::Load(mut loader) => {
            while loader.step(sink, STEP_UNITS)? == Step::More {}
            Ok(loader.finish())
        }
    }
}

/// Steps 4-5 of the module doc, a bounded amount of work per [`step`](Self::step), so the
/// caller can serve connections (with `-LOADING`) and report progress between steps.
pub struct AofLoader {
    layout: AofLayout,
    opts: BootOptions,
    manifest_path: String,
    /// BASE then INCRs, in manifest order.
    files: Vec<AofFile>,
    /// Their total size when loading began (`loading_total_bytes`).
    total: u64,
    /// Index in `files` of the next file to open.
    next: usize,
    /// Bytes of the files already loaded.
    done_before: u64,
    current: Option<Current>,
    out: AofLoaded,
    /// The last replication position read, and whether commands were applied after it.
    mark: Option<ReplMark>,
    after_mark: bool,
}

/// The file being loaded.
struct Current {
    file: AofFile,
    size: u64,
    started: Instant,
    reading: Reading,
}

enum Reading {
    /// An RDB base (or the RDB preamble of an old single-file AOF).
    Rdb(Box<snapshot::Loader<BufReader<File>>>),
    /// Commands, from `start` of the file or after an RDB preamble.
    Resp(Box<Units<File>>),
}

/// Where replaying a file's commands stopped.
enum Replayed {
    /// The step's budget is used up.
    More,
    /// End of file; `Some(valid_up_to)` when it ends inside a command or transaction.
    End(Option<u64>),
}

impl AofLoader {
    /// Total bytes of the files to load.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes loaded so far over all files.
    pub fn progress(&self) -> u64 {
        self.done_before
            + self.current.as_ref().map_or(0, |c| match &c.reading {
                Reading::Rdb(l) => l.progress().bytes,
                Reading::Resp(u) => u.offset(),
            })
    }

    /// The `used-mem` aux field of the RDB base being read (`loading_rdb_used_mem`).
    pub fn rdb_used_mem(&self) -> Option<u64> {
        match &self.current.as_ref()?.reading {
            Reading::Rdb(l) => l.aux().used_mem.map(|m| m.max(0) as u64),
            Reading::Resp(_) => None,
        }
    }

    /// Opens the next file, or reads up to `max_units` RDB items or commands (a transaction
    /// counts as one) of the current one. [`Step::Done`] once every file is loaded.
    pub fn step(&mut self, sink: &mut dyn AofSink, max_units: usize) -> Result<Step, BootError> {
        let Some(cur) = self.current.take() else {
            if self.next == self.files.len() {
                return Ok(Step::Done);
            }
            self.current = Some(self.open(self.next)?);
            self.next += 1;
            return Ok(Step::More);
        };
        self.current = match cur.reading {
            Reading::Rdb(mut loader) => {
                let step = loader
                    .step(max_units)
                    .map_err(|e| self.rdb_error(&cur.file, e))?;
                if step == Step::More {
                    Some(Current {
                        reading: Reading::Rdb(loader),
                        ..cur
                    })
                } else {
                    let loaded = loader.finish().map_err(|e| self.rdb_error(&cur.file, e))?;
                    let start = loaded.bytes;
                    self.mark = ReplPosition::from_aux(&loaded.aux);
                    self.after_mark = false;
                    self.out.base_aux = Some(loaded.aux.clone());
                    sink.install_rdb(loaded);
                    if start < cur.size && cur.file.name == self.layout.filename {
                        info!("Reading the remaining AOF tail...");
                    }
                    let units = self.commands_from(&cur.file, start)?;
                    Some(Current {
                        reading: Reading::Resp(Box::new(units)),
                        ..cur
                    })
                }
            }
            Reading::Resp(mut units) => {
                match self.replay(&cur.file, &mut units, sink, max_units)? {
                    Replayed::More => Some(Current {
                        reading: Reading::Resp(units),
                        ..cur
                    }),
                    Replayed::End(truncated) => {
                        self.file_done(&cur.file, cur.size, cur.started, truncated)?;
                        None
                    }
                }
            }
        };
        Ok(Step::More)
    }

    /// The result, once [`step`](Self::step) returned [`Step::Done`].
    pub fn finish(mut self) -> AofBoot {
        self.out.repl = match self.mark.take() {
            None => ReplPosition::Unknown,
            Some(m) if self.after_mark => ReplPosition::CommandsAfter(m),
            Some(m) => ReplPosition::At(m),
        };
        self.out.total_size = self
            .files
            .iter()
            .map(|f| self.layout.file_size(&f.name))
            .sum();
        AofBoot::Loaded(Box::new(self.out))
    }

    fn io_error(name: &str, offset: u64, source: std::io::Error) -> BootError {
        BootError::Io {
            name: name.to_string(),
            offset,
            source,
        }
    }

    fn rdb_error(&self, file: &AofFile, e: snapshot::LoadError) -> BootError {
        BootError::Rdb {
            name: file.name.clone(),
            offset: e.offset(),
            detail: e.to_string(),
            manifest: self.manifest_path.clone(),
        }
    }

    fn open(&self, index: usize) -> Result<Current, BootError> {
        let file = self.files[index].clone();
        let io = |offset, e| Self::io_error(&file.name, offset, e);
        let mut f = File::open(self.layout.path(&file.name)).map_err(|e| io(0, e))?;
        let size = f.metadata().map_err(|e| io(0, e))?.len();
        let mut sig = [0u8; 5];
        let is_rdb = size >= 5 && f.read_exact(&mut sig).is_ok() && &sig == b"REDIS";
        let reading = if is_rdb {
            if file.name == self.layout.filename {
                info!("Reading RDB preamble from AOF file...");
            } else {
                info!("Reading RDB base file on AOF loading...");
            }
            f.seek(SeekFrom::Start(0)).map_err(|e| io(0, e))?;
            let input = BufReader::with_capacity(1 << 16, f);
            let loader = snapshot::Loader::threaded(input, self.opts.rdb.clone())
                .map_err(|e| self.rdb_error(&file, e))?;
            Reading::Rdb(Box::new(loader))
        } else {
            Reading::Resp(Box::new(self.commands_from(&file, 0)?))
        };
        Ok(Current {
            file,
            size,
            started: Instant::now(),
            reading,
        })
    }

    /// A command reader over `file` from byte `start` on.
    fn commands_from(&self, file: &AofFile, start: u64) -> Result<Units<File>, BootError> {
        let io = |e| Self::io_error(&file.name, start, e);
        let mut f = File::open(self.layout.path(&file.name)).map_err(io)?;
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        Ok(Units::new(f, start))
    }

    fn replay(
        &mut self,
        file: &AofFile,
        units: &mut Units<File>,
        sink: &mut dyn AofSink,
        max_units: usize,
    ) -> Result<Replayed, BootError> {
        for _ in 0..max_units.max(1) {
            let next = units.next_unit().map_err(|e| match e {
                RecordError::Format { offset, detail } => BootError::Format {
                    name: file.name.clone(),
                    offset,
                    detail,
                    manifest: self.manifest_path.clone(),
                },
                RecordError::Io { offset, source } => Self::io_error(&file.name, offset, source),
            })?;
            // A mark read by this call lies before the unit it returned.
            if let Some(m) = units.take_mark() {
                self.mark = Some(m);
                self.after_mark = false;
            }
            let (cmds, offset, batch) = match next {
                NextUnit::Unit(Unit::Command(c)) => (vec![c.argv], c.start, Batch::Single),
                NextUnit::Unit(Unit::Transaction {
                    commands, start, ..
                }) => (
                    commands.into_iter().map(|c| c.argv).collect(),
                    start,
                    Batch::Transaction,
                ),
                NextUnit::End => return Ok(Replayed::End(None)),
                NextUnit::Truncated { valid_up_to, why } => {
                    if why == Truncation::OpenMulti {
                        warn!(
                            "Revert incomplete MULTI/EXEC transaction in AOF file {}",
                            file.name
                        );
                    }
                    return Ok(Replayed::End(Some(valid_up_to)));
                }
            };
            sink.apply(&cmds, batch)
                .map_err(|command| BootError::UnknownCommand {
                    name: file.name.clone(),
                    offset,
                    command,
                })?;
            self.after_mark = true;
            self.out.units += 1;
        }
        Ok(Replayed::More)
    }

    /// Step 5 of the module doc for the file just read, then its log line.
    fn file_done(
        &mut self,
        file: &AofFile,
        size: u64,
        started: Instant,
        truncated: Option<u64>,
    ) -> Result<(), BootError> {
        let name = &file.name;
        if let Some(valid_up_to) = truncated {
            let last = self.next == self.files.len();
            if !last {
                return Err(BootError::TruncatedNotLast {
                    name: name.clone(),
                    offset: valid_up_to,
                    manifest: self.manifest_path.clone(),
                });
            }
            if !self.opts.load_truncated {
                return Err(BootError::Truncated {
                    name: name.clone(),
                    offset: valid_up_to,
                    manifest: self.manifest_path.clone(),
                });
            }
            warn!("!!! Warning: short read while loading the AOF file {name}!!!");
            warn!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
            truncate(&self.layout, name, valid_up_to)?;
            warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
            self.out.truncated = Some((name.clone(), valid_up_to));
        }
        let kind = if file.kind == FileKind::Base {
            "base"
        } else {
            "incr"
        };
        info!(
            "DB loaded from {kind} file {name}: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
        if file.kind == FileKind::Base {
            self.out.base_size = self.layout.file_size(name);
        }
        self.done_before += size;
        Ok(())
    }
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
        fn apply(&mut self, commands: &[Vec<Bytes>], _: Batch) -> Result<(), String> {
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
        setup_base(d, keys, incr, true, None)
    }

    /// [`setup`] with a choice of base form and the base's replication position.
    fn setup_base(
        d: &std::path::Path,
        keys: usize,
        incr: &[u8],
        preamble: bool,
        repl: Option<ReplMark>,
    ) -> AofLayout {
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
            preamble,
            rdb: WriterOptions::default(),
            timestamp: None,
            repl,
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

    const ID: &str = "8c4bd4e5c9e1b5b7f4d1a0c3e2f6a9b8c7d6e5f4";

    fn mark(offset: u64, db: u32) -> ReplMark {
        ReplMark::new(ID, offset, db).unwrap()
    }

    fn mark_line(offset: u64, db: u32) -> Vec<u8> {
        let mut b = BytesMut::new();
        mark(offset, db).encode(&mut b);
        b.to_vec()
    }

    #[test]
    fn replication_position_is_the_last_mark_unless_commands_follow_it() {
        let set = || cmds(&[&["SET", "a", "1"]]);
        let tx = || cmds(&[&["MULTI"], &["SET", "a", "1"], &["EXEC"]]);
        let base = Some(mark(100, 3));
        // (base position, incr bytes, expected)
        let table: Vec<(Option<ReplMark>, Vec<u8>, ReplPosition)> = vec![
            (None, vec![], ReplPosition::Unknown),
            (None, set(), ReplPosition::Unknown),
            (base.clone(), vec![], ReplPosition::At(mark(100, 3))),
            (
                base.clone(),
                set(),
                ReplPosition::CommandsAfter(mark(100, 3)),
            ),
            (
                base.clone(),
                [set(), mark_line(131, 0)].concat(),
                ReplPosition::At(mark(131, 0)),
            ),
            (
                None,
                [set(), mark_line(131, 0), tx(), mark_line(200, 1)].concat(),
                ReplPosition::At(mark(200, 1)),
            ),
            // A write cut before its mark: the commands that made it are applied, the
            // offset they reached is unknown.
            (
                base.clone(),
                [set(), mark_line(131, 0), set()].concat(),
                ReplPosition::CommandsAfter(mark(131, 0)),
            ),
            // Cut inside the mark line itself: no mark.
            (
                base.clone(),
                [set(), mark_line(131, 0)[..20].to_vec()].concat(),
                ReplPosition::CommandsAfter(mark(100, 3)),
            ),
            // A torn command is cut away (aof-load-truncated): the mark before it holds.
            (
                base.clone(),
                [set(), mark_line(131, 0), b"*3\r\n$3\r\nSET\r\n$1".to_vec()].concat(),
                ReplPosition::At(mark(131, 0)),
            ),
            // An unfinished MULTI is reverted likewise.
            (
                base.clone(),
                [mark_line(131, 0), cmds(&[&["MULTI"], &["SET", "a", "1"]])].concat(),
                ReplPosition::At(mark(131, 0)),
            ),
        ];
        for (i, (base_repl, incr, want)) in table.into_iter().enumerate() {
            for preamble in [true, false] {
                let d = tempfile::tempdir().unwrap();
                let l = setup_base(d.path(), 2, &incr, preamble, base_repl.clone());
                let AofBoot::Loaded(out) =
                    load_aof(&l, &opts(true), &mut Recorder::default()).unwrap()
                else {
                    panic!("case {i}")
                };
                assert_eq!(out.repl, want, "case {i}, preamble {preamble}");
            }
        }
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
