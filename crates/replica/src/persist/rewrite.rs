//! AOF rewrite (BGREWRITEAOF): writing a new BASE from the keyspace, in a fork child or in
//! place, and installing it in the manifest afterwards.
//!
//! ## The flow (Redis 7.0, `rewriteAppendOnlyFileBackground` + `backgroundRewriteDoneHandler`)
//!
//! 1. Parent (caller): flush the AOF buffer, open a new INCR (`seq+1`) and persist the
//!    manifest listing it; new writes go there from now on.
//! 2. Child ([`start_rewrite`]): write `dir/temp-rewriteaof-<pid>.aof` — an RDB with the
//!    `aof-base` aux field when `aof-use-rdb-preamble yes`, else RESP commands
//!    ([`write_commands`]) — fsync it, rename it to `temp-rewriteaof-bg-<pid>.aof`, exit 0.
//! 3. Parent ([`install_base`]): rename that file into the AOF directory as the new BASE
//!    (the old BASE becomes HISTORY), mark every INCR but the open one as HISTORY, persist
//!    the manifest. The caller then unlinks the HISTORY files and persists once more.
//!
//! If the child fails, nothing changes for the data: the old BASE and all INCRs still
//! describe it. The parent removes the child's temp files ([`cleanup_failed`]).
//!
//! ## RESP form (preamble off)
//!
//! Per non-empty database a `SELECT`, then per key: `SET`, or `RPUSH`/`SADD`/`ZADD`/`HSET`
//! with at most [`ITEMS_PER_CMD`] items per command, then `PEXPIREAT` when the key has a
//! TTL. Scores use Redis's `%.17g` ([`format_double`]). With `aof-timestamp-enabled yes` the
//! file starts with a `#TS:<unix secs>` annotation line.
//!
//! ## Replication position (ferrokv extension)
//!
//! On a replica, [`RewriteOptions::repl`] is the replication id, offset and stream db at the
//! fork, which is also where the new INCR begins (step 1 happens right before the fork, on
//! the same thread). The BASE records it so that a replica restarted from its AOF can
//! `PSYNC` instead of needing a full sync: as the standard `repl-stream-db`/`repl-id`/
//! `repl-offset` aux fields in an RDB preamble (Redis's loader ignores them in an AOF base;
//! redis-check-rdb accepts them), or as a [`ReplMark`] annotation line at the end of a RESP
//! base (a mark describes everything before it; Redis's loader and redis-check-aof skip it
//! like `#TS:`).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::fd::RawFd;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use ferrokv_proto::aof::{Manifest, ReplMark};
use ferrokv_proto::rdb::{ReplAux, WriterOptions};
use ferrokv_proto::resp::{encode_command, format_double};
use ferrokv_store::fork::{ChildKind, ChildSlot, ForkError};
use ferrokv_store::snapshot;
use ferrokv_store::{Keyspace, Value};
use nix::unistd::Pid;

use super::aof::{AofError, AofLayout};

/// Redis's `AOF_REWRITE_ITEMS_PER_CMD`.
pub const ITEMS_PER_CMD: usize = 64;

/// What a rewrite writes.
#[derive(Debug, Clone)]
pub struct RewriteOptions {
    /// `aof-use-rdb-preamble`.
    pub preamble: bool,
    /// RDB options for the preamble (`aof_base` is forced on, replication aux from `repl`).
    pub rdb: WriterOptions,
    /// `aof-timestamp-enabled yes`: the Unix time (taken by the parent, so the child reads
    /// no clock) of the `#TS:<secs>` annotation a RESP base starts with, as Redis's does.
    pub timestamp: Option<i64>,
    /// A replica's replication position at the fork (see the module doc); `None` on a
    /// primary, whose base stays exactly Redis's.
    pub repl: Option<ReplMark>,
}

/// Writes the keyspace as an AOF base into `out`: RDB (preamble) or RESP commands.
/// Returns the bytes written and the number of keys.
pub fn write_base<W: Write>(ks: &Keyspace, out: W, opts: &RewriteOptions) -> io::Result<(W, u64)> {
    if opts.preamble {
        let rdb = WriterOptions {
            aof_base: true,
            repl: opts.repl.as_ref().map(|m| ReplAux {
                stream_db: m.stream_db,
                repl_id: Bytes::from(m.replid.clone()),
                offset: i64::try_from(m.offset).unwrap_or(i64::MAX),
            }),
            ..opts.rdb.clone()
        };
        let (w, stats) =
            snapshot::save(ks, out, &rdb).map_err(|e| io::Error::other(e.to_string()))?;
        Ok((w, stats.keys))
    } else {
        let mut out = out;
        if let Some(ts) = opts.timestamp {
            out.write_all(format!("#TS:{ts}\r\n").as_bytes())?;
        }
        let (mut out, keys) = write_commands(ks, out, opts.rdb.key_save_delay_us)?;
        // Last, like the marks in INCR files: it describes everything before it.
        if let Some(m) = &opts.repl {
            let mut line = BytesMut::new();
            m.encode(&mut line);
            out.write_all(&line)?;
        }
        Ok((out, keys))
    }
}

/// The RESP form of the whole keyspace (see the module doc), sleeping `key_save_delay_us`
/// after each key (`rdb-key-save-delay`).
pub fn write_commands<W: Write>(
    ks: &Keyspace,
    mut out: W,
    key_save_delay_us: i64,
) -> io::Result<(W, u64)> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut keys = 0u64;
    for (index, db) in ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let n = index.to_string();
        encode_command(&[&b"SELECT"[..], n.as_bytes()], &mut buf);
        for (key, entry, expire) in db.iter_with_expire() {
            let key = key.as_slice();
            match &entry.value {
                Value::Str(s) => encode_command(&[&b"SET"[..], key, s], &mut buf),
                Value::List(l) => chunked(&mut buf, b"RPUSH", key, l.iter().map(|v| [v])),
                Value::Set(s) => chunked(&mut buf, b"SADD", key, s.iter_bytes().map(|v| [v])),
                Value::ZSet(z) => chunked(
                    &mut buf,
                    b"ZADD",
                    key,
                    z.iter()
                        .map(|(m, score)| [format_double(score), Bytes::copy_from_slice(m)]),
                ),
                Value::Hash(h) => chunked(&mut buf, b"HSET", key, h.iter().map(|(f, v)| [f, v])),
            }
            if let Some(ms) = expire {
                let ms = ms.to_string();
                encode_command(&[&b"PEXPIREAT"[..], key, ms.as_bytes()], &mut buf);
            }
            keys += 1;
            snapshot::key_save_delay(key_save_delay_us, keys);
            if buf.len() >= 64 * 1024 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    out.write_all(&buf)?;
    Ok((out, keys))
}

/// `<cmd> key item...` with at most [`ITEMS_PER_CMD`] items (of `N` arguments each) per
/// command.
fn chunked<A: AsRef<[u8]>, const N: usize>(
    buf: &mut BytesMut,
    cmd: &[u8],
    key: &[u8],
    items: impl Iterator<Item = [A; N]>,
) {
    let mut chunk: Vec<[A; N]> = Vec::with_capacity(ITEMS_PER_CMD);
    let flush = |chunk: &mut Vec<[A; N]>, buf: &mut BytesMut| {
        if chunk.is_empty() {
            return;
        }
        let mut argv: Vec<&[u8]> = Vec::with_capacity(2 + N * chunk.len());
        argv.extend([cmd, key]);
        argv.extend(chunk.iter().flatten().map(|a| a.as_ref()));
        encode_command(&argv, buf);
        chunk.clear();
    };
    for item in items {
        chunk.push(item);
        if chunk.len() == ITEMS_PER_CMD {
            flush(&mut chunk, buf);
        }
    }
    flush(&mut chunk, buf);
}

/// Writes a base file at `path` (buffered, fsynced). Used by the child and, synchronously,
/// for the empty BASE written when AOF starts on an empty directory.
pub fn write_base_file(ks: &Keyspace, path: &Path, opts: &RewriteOptions) -> io::Result<u64> {
    let file = File::create(path)?;
    let (w, keys) = write_base(ks, BufWriter::with_capacity(1 << 16, file), opts)?;
    let file = w
        .into_inner()
        .map_err(|e| io::Error::other(e.error().to_string()))?;
    file.sync_all()?;
    Ok(keys)
}

/// Forks the rewrite child (step 2 of the module doc). `close_fds`: the listening sockets.
pub fn start_rewrite(
    slot: &mut ChildSlot,
    ks: &Keyspace,
    layout: &AofLayout,
    opts: &RewriteOptions,
    close_fds: &[RawFd],
) -> Result<Pid, ForkError> {
    slot.fork_dump(
        ChildKind::AofRewrite,
        close_fds,
        ks,
        "AOF rewrite child",
        |pid| {
            let temp = layout.rewrite_temp_path(pid);
            let result = write_base_file(ks, &temp, opts).and_then(|keys| {
                fs::rename(&temp, layout.rewrite_done_path(pid))?;
                Ok(keys)
            });
            if result.is_err() {
                let _ = fs::remove_file(&temp);
            }
            result
        },
    )
}

/// Removes what a failed or killed rewrite child left behind.
pub fn cleanup_failed(layout: &AofLayout, pid: Pid) {
    let pid = pid.as_raw() as u32;
    let _ = fs::remove_file(layout.rewrite_temp_path(pid));
    let _ = fs::remove_file(layout.rewrite_done_path(pid));
}

/// Step 3 of the module doc. `manifest` is the current one; `open_incrs` is how many of
/// its last INCRs are still being written (1 when AOF is on, 0 when it was turned off
/// during the rewrite). `temp_incr`: when AOF was waiting for its first rewrite, the temp
/// INCR file (`temp-<appendfilename>.incr`) that becomes a real INCR now.
///
/// Returns the new manifest, already persisted, and the new BASE's name and size. On
/// failure nothing is renamed back except the new BASE, which is removed, so the old
/// manifest stays valid.
pub fn install_base(
    layout: &AofLayout,
    manifest: &Manifest,
    pid: Pid,
    preamble: bool,
    open_incrs: usize,
    temp_incr: Option<&str>,
) -> Result<(Manifest, String, u64), AofError> {
    let mut m = manifest.clone();
    let base = m.new_base(&layout.filename, preamble);
    let done = layout.rewrite_done_path(pid.as_raw() as u32);
    fs::rename(&done, layout.path(&base))?;
    let mut open_incrs = open_incrs;
    let mut renamed_incr = None;
    if let Some(temp) = temp_incr {
        let incr = m.new_incr(&layout.filename);
        if let Err(e) = fs::rename(layout.path(temp), layout.path(&incr)) {
            let _ = fs::remove_file(layout.path(&base));
            return Err(e.into());
        }
        renamed_incr = Some(incr);
        open_incrs = 1;
    }
    m.mark_rewritten_incrs_as_history(open_incrs);
    if let Err(e) = layout.persist_manifest(&m) {
        let _ = fs::remove_file(layout.path(&base));
        if let (Some(temp), Some(incr)) = (temp_incr, renamed_incr) {
            let _ = fs::rename(layout.path(&incr), layout.path(temp));
        }
        return Err(e);
    }
    let size = layout.file_size(&base);
    Ok((m, base, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokv_proto::aof::{NextUnit, Unit, Units};
    use ferrokv_store::value::ListValue;
    use ferrokv_store::StoreConfig;
    use std::time::Duration;

    fn sample() -> Keyspace {
        let cfg = StoreConfig::default();
        let mut ks = Keyspace::new(cfg.clone());
        ks.set(0, b"s", Value::Str(Bytes::from_static(b"v")));
        let l = ListValue::from_items((0..150).map(|i| Bytes::from(format!("e{i}"))));
        ks.set(0, b"l", Value::List(Box::new(l)));
        ks.set(2, b"t", Value::Str(Bytes::from_static(b"x")));
        ks
    }

    fn units(bytes: &[u8]) -> Vec<Vec<Bytes>> {
        let mut u = Units::new(bytes, 0);
        let mut out = Vec::new();
        loop {
            match u.next_unit().unwrap() {
                NextUnit::Unit(Unit::Command(c)) => out.push(c.argv),
                NextUnit::End => return out,
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn resp_rewrite_honours_the_key_save_delay() {
        let ks = sample();
        let started = std::time::Instant::now();
        let (slow, _) = write_commands(&ks, Vec::new(), 20_000).unwrap();
        // Three keys at 20 ms each.
        assert!(started.elapsed() >= std::time::Duration::from_millis(60));
        let (fast, _) = write_commands(&ks, Vec::new(), 0).unwrap();
        assert_eq!(slow, fast);
    }

    #[test]
    fn resp_rewrite_selects_and_chunks_64_items() {
        let ks = sample();
        let (out, keys) = write_commands(&ks, Vec::new(), 0).unwrap();
        assert_eq!(keys, 3);
        let cmds = units(&out);
        let names: Vec<String> = cmds
            .iter()
            .map(|c| String::from_utf8_lossy(&c[0]).into_owned())
            .collect();
        assert_eq!(names.iter().filter(|n| *n == "SELECT").count(), 2);
        let rpush: Vec<usize> = cmds
            .iter()
            .filter(|c| &c[0][..] == b"RPUSH")
            .map(|c| c.len() - 2)
            .collect();
        assert_eq!(rpush, vec![64, 64, 22]);
    }

    #[test]
    fn resp_base_starts_with_a_timestamp_annotation_only_when_asked() {
        let ks = sample();
        let mut opts = RewriteOptions {
            preamble: false,
            rdb: WriterOptions::default(),
            timestamp: Some(1_700_000_000),
            repl: None,
        };
        let (with, _) = write_base(&ks, Vec::new(), &opts).unwrap();
        assert!(with.starts_with(b"#TS:1700000000\r\n*2\r\n$6\r\nSELECT\r\n"));
        // Loaders skip the annotation.
        assert_eq!(units(&with).len(), units(&with[16..]).len());
        opts.timestamp = None;
        let (without, _) = write_base(&ks, Vec::new(), &opts).unwrap();
        assert_eq!(&with[16..], &without[..]);
        // The RDB preamble never carries one (Redis writes it only in the RESP form).
        opts.preamble = true;
        opts.timestamp = Some(1);
        let (rdb, _) = write_base(&ks, Vec::new(), &opts).unwrap();
        assert!(rdb.starts_with(b"REDIS"));
    }

    #[test]
    fn a_replicas_base_records_its_replication_position_in_both_forms() {
        let ks = sample();
        let mark = ReplMark::new("8c4bd4e5c9e1b5b7f4d1a0c3e2f6a9b8c7d6e5f4", 1143, 2).unwrap();
        let mut opts = RewriteOptions {
            preamble: true,
            rdb: WriterOptions::default(),
            timestamp: None,
            repl: Some(mark.clone()),
        };
        let (rdb, _) = write_base(&ks, Vec::new(), &opts).unwrap();
        let loaded = snapshot::load(
            &rdb[..],
            snapshot::LoadOptions::primary(StoreConfig::default(), 0),
            |_| {},
        )
        .unwrap();
        assert!(loaded.aux.aof_base);
        assert_eq!(loaded.aux.repl_id.as_deref(), Some(mark.replid.as_bytes()));
        assert_eq!(loaded.aux.repl_offset, Some(1143));
        assert_eq!(loaded.aux.repl_stream_db, Some(2));

        opts.preamble = false;
        opts.timestamp = Some(1_700_000_000);
        let (resp, _) = write_base(&ks, Vec::new(), &opts).unwrap();
        let line = format!("#ferrokv-repl:{}:1143:2\r\n", mark.replid);
        assert!(resp.starts_with(b"#TS:1700000000\r\n*2\r\n$6\r\nSELECT"));
        assert!(resp.ends_with(line.as_bytes()));
        let mut u = Units::new(&resp[..], 0);
        let mut n = 0;
        while let NextUnit::Unit(_) = u.next_unit().unwrap() {
            assert_eq!(u.take_mark(), None);
            n += 1;
        }
        assert_eq!(u.take_mark(), Some(mark));
        assert_eq!(n, units(&resp[..resp.len() - line.len()]).len());
    }

    #[test]
    fn child_writes_base_and_parent_installs_it() {
        let d = tempfile::tempdir().unwrap();
        let layout = AofLayout {
            dir: d.path().to_path_buf(),
            dirname: "appendonlydir".into(),
            filename: "appendonly.aof".into(),
        };
        layout.create_dir().unwrap();
        let mut m = Manifest::default();
        m.new_base("appendonly.aof", true);
        m.new_incr("appendonly.aof");
        fs::write(layout.path("appendonly.aof.1.base.rdb"), b"old").unwrap();
        fs::write(layout.path("appendonly.aof.1.incr.aof"), b"").unwrap();
        m.new_incr("appendonly.aof");
        layout.persist_manifest(&m).unwrap();
        let ks = sample();
        let mut slot = ChildSlot::default();
        let opts = RewriteOptions {
            preamble: true,
            rdb: WriterOptions::default(),
            timestamp: None,
            repl: None,
        };
        let pid = start_rewrite(&mut slot, &ks, &layout, &opts, &[]).unwrap();
        let mut exit = None;
        for _ in 0..5000 {
            if let Some(e) = slot.poll() {
                exit = Some(e);
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(exit.expect("child exits").result, Ok(()));
        let (m2, base, size) = install_base(&layout, &m, pid, true, 1, None).unwrap();
        assert_eq!(base, "appendonly.aof.2.base.rdb");
        assert!(size > 0);
        assert_eq!(
            m2.to_text(),
            "file appendonly.aof.2.base.rdb seq 2 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.1.base.rdb seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        let bytes = fs::read(layout.path(&base)).unwrap();
        assert_eq!(&bytes[..5], b"REDIS");
        let loaded = snapshot::load(
            &bytes[..],
            snapshot::LoadOptions::primary(StoreConfig::default(), 0),
            |_| {},
        )
        .unwrap();
        assert!(loaded.aux.aof_base);
        assert_eq!(loaded.keys_loaded, 3);
        assert!(!layout.rewrite_done_path(pid.as_raw() as u32).exists());
    }
}
