//! Runs the replication [`Link`] on a TCP connection to the primary.
//!
//! One [`run`] call follows one primary forever: connect (bounded by `repl-timeout`),
//! handshake, receive the payload into a temp file, have the host load it, then apply the
//! stream and ACK every second. When the connection fails for any reason the host is told
//! ([`ReplicaHost::link_down`]), keeps its dataset, and the driver reconnects after a backoff
//! (100 ms doubling to 1 s, as Redis retries once per cron second), asking for a partial
//! resync with whatever history the host has by then. Stop following by dropping the future.
//!
//! ## Empty primary protection (a ferrokv deviation)
//!
//! A primary without persistence that restarts comes back empty under a new replid, and a
//! plain full sync would wipe every replica (Redis does exactly that). When the link says the
//! `+FULLRESYNC` restarted our history ([`Link::guard_empty`]), the driver looks into the
//! received payload before the host loads it: if it holds no key while our dataset holds some,
//! the payload is dropped, the dataset is kept, the link stays down
//! ([`ReplError::EmptyPrimary`], logged at `error`), and the attempt is repeated every
//! [`EMPTY_PRIMARY_RETRY`]. `replica-accept-empty-fullsync yes` or an operator's `REPLICAOF`
//! lets the next attempt through (the host says so in [`LinkConfig::accept_empty_fullsync`]).

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{error, info, warn};

use crate::link::{Action, Link, LinkConfig, LinkState, PsyncFrom};
use crate::ReplError;

/// How often a replica that refused an empty payload tries again (each attempt costs the
/// primary a full sync, so not at the usual 1 s).
pub const EMPTY_PRIMARY_RETRY: Duration = Duration::from_secs(5);

/// What the driver needs from the node. Called on the node's thread; implementations borrow
/// the node for the duration of each call only.
pub trait ReplicaHost {
    fn link_config(&self) -> LinkConfig;
    /// What to ask for in PSYNC on the next connection.
    fn psync_from(&self) -> PsyncFrom;
    /// `repl-timeout`.
    fn repl_timeout(&self) -> Duration;
    /// Where to store the payload while it arrives.
    fn payload_path(&self) -> PathBuf;
    fn set_state(&mut self, state: LinkState);
    /// `read` bytes arrived from the primary (`master_last_io_seconds_ago`, replication
    /// input counters) and the payload's progress: `(total or None for EOF-marked, read so
    /// far)`.
    fn io(&mut self, read: usize, transfer: Option<(Option<u64>, u64)>);
    /// `bytes` were written to the primary after the handshake (REPLCONF ACKs): Redis counts
    /// them as ordinary output of the link.
    fn sent(&mut self, bytes: usize);
    /// The primary announced a full sync of `replid` at `offset`.
    fn full_resync(&mut self, replid: &str, offset: u64);
    /// Loads the complete payload into fresh databases and swaps them in (with the replid
    /// and offset of the last [`full_resync`](Self::full_resync)). On error the old dataset
    /// must stay untouched.
    fn load_payload(&mut self, path: &Path) -> Result<(), String>;
    /// A partial resync was accepted.
    fn partial_resync(&mut self, new_replid: Option<&str>);
    /// Runs one stream command as the primary's client and feeds `fed` to the own backlog.
    /// An empty `argv` only feeds.
    fn apply(&mut self, argv: Vec<Bytes>, fed: Bytes);
    /// The connection ended.
    fn link_down(&mut self, err: &ReplError);
    /// Keys in the dataset (all databases), for empty primary protection.
    fn dataset_keys(&self) -> u64;
    /// Called before anything (an ACK above all) is written to the primary: with
    /// `appendfsync always` the applied stream must be on disk before its offset is ACKed.
    fn before_ack(&mut self) {}
}

/// Follows `host:port` until the future is dropped.
pub async fn run<H: ReplicaHost>(mut node: H, host: String, port: u16) {
    let mut backoff = Duration::from_millis(100);
    let mut failures: u64 = 0;
    loop {
        info!("Connecting to MASTER {host}:{port}");
        let started = Instant::now();
        let err = match session(&mut node, &host, port).await {
            Ok(()) => ReplError::Closed,
            Err(e) => e,
        };
        failures += 1;
        let empty_primary = matches!(err, ReplError::EmptyPrimary { .. });
        if empty_primary {
            // Logged at every refusal: they are EMPTY_PRIMARY_RETRY apart, and a person must act.
            error!(
                "MASTER <-> REPLICA sync: {err}. Keeping the dataset; master_link_status stays down. \
                 Run REPLICAOF {host} {port} again (or set replica-accept-empty-fullsync yes) to accept it. \
                 Retrying every {}s (attempt {failures}).",
                EMPTY_PRIMARY_RETRY.as_secs()
            );
        } else if failures == 1 || failures.is_multiple_of(10) {
            warn!("Replication link with MASTER {host}:{port} lost ({err}), retrying (attempt {failures})");
        }
        node.link_down(&err);
        if started.elapsed() > Duration::from_secs(5) {
            backoff = Duration::from_millis(100);
        }
        if empty_primary {
            tokio::time::sleep(EMPTY_PRIMARY_RETRY).await;
            continue;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// Where the payload goes while it arrives.
struct Payload {
    file: File,
    path: PathBuf,
    total: Option<u64>,
    read: u64,
    /// The `+FULLRESYNC <replid> <offset>` it belongs to.
    full: (String, u64),
}

/// Whether an RDB file holds at least one key. An unreadable file counts as holding keys:
/// the loader reports the real error.
fn payload_has_keys(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return true;
    };
    let Ok(mut rdb) = ferrokv_proto::rdb::RdbReader::from_read(file) else {
        return true;
    };
    // Bounded: every item consumes input, and a payload is a finite file.
    loop {
        match rdb.next_item() {
            Ok(Some(ferrokv_proto::rdb::RdbItem::Entry(_))) => return true,
            Ok(Some(ferrokv_proto::rdb::RdbItem::Eof(_))) | Ok(None) => return false,
            Ok(Some(_)) => {}
            Err(_) => return true,
        }
    }
}

async fn session<H: ReplicaHost>(node: &mut H, host: &str, port: u16) -> Result<(), ReplError> {
    let timeout = node.repl_timeout();
    node.set_state(LinkState::Connecting);
    let mut stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| ReplError::Timeout)??;
    let _ = stream.set_nodelay(true);
    info!("MASTER <-> REPLICA sync started");
    let mut link = Link::new(node.link_config(), node.psync_from());
    let mut payload: Option<Payload> = None;
    // The last `+FULLRESYNC <replid> <offset>`, handed to the payload when it starts.
    let mut full = (String::new(), 0);
    let start = link.start();
    perform(node, &mut link, &mut stream, &mut payload, &mut full, start).await?;
    let mut ack = tokio::time::interval(Duration::from_secs(1));
    ack.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut last_io = Instant::now();
    loop {
        tokio::select! {
            r = stream.read(&mut rbuf) => {
                let n = r?;
                if n == 0 {
                    return Err(ReplError::Closed);
                }
                last_io = Instant::now();
                let actions = link.feed(&rbuf[..n])?;
                perform(node, &mut link, &mut stream, &mut payload, &mut full, actions).await?;
                // Handshake replies are not replication input (Redis reads them apart).
                let counted = n.saturating_sub(link.take_handshake_bytes());
                node.io(counted, payload.as_ref().map(|p| (p.total, p.read)));
            }
            _ = ack.tick() => {
                if let Some(a) = link.ack() {
                    node.before_ack();
                    stream.write_all(&a).await?;
                    node.sent(a.len());
                }
                if last_io.elapsed() > timeout {
                    return Err(ReplError::Silent);
                }
            }
        }
    }
}

/// Carries out actions in order; loading the payload may produce more.
async fn perform<H: ReplicaHost>(
    node: &mut H,
    link: &mut Link,
    stream: &mut TcpStream,
    payload: &mut Option<Payload>,
    full: &mut (String, u64),
    actions: Vec<Action>,
) -> Result<(), ReplError> {
    let mut queue: VecDeque<Action> = actions.into();
    while let Some(a) = queue.pop_front() {
        match a {
            Action::Send(b) => {
                node.before_ack();
                stream.write_all(&b).await?;
                if link.is_streaming() {
                    node.sent(b.len());
                }
            }
            Action::State(s) => node.set_state(s),
            Action::FullResync { replid, offset } => {
                info!("Full resync from master: {replid}:{offset}");
                node.full_resync(&replid, offset);
                *full = (replid, offset);
            }
            Action::PayloadStart(total) => {
                let path = node.payload_path();
                let file = File::create(&path)?;
                match total {
                    Some(n) => info!("MASTER <-> REPLICA sync: receiving {n} bytes from master to disk"),
                    None => info!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk"),
                }
                *payload = Some(Payload {
                    file,
                    path,
                    total,
                    read: 0,
                    full: std::mem::take(full),
                });
            }
            Action::Payload(b) => {
                if let Some(p) = payload.as_mut() {
                    p.file.write_all(&b)?;
                    p.read += b.len() as u64;
                }
            }
            Action::PayloadEnd => {
                let Some(mut p) = payload.take() else {
                    return Err(ReplError::Protocol("payload end without payload".into()));
                };
                p.file.flush()?;
                drop(p.file);
                if link.guard_empty() {
                    let keys = node.dataset_keys();
                    if keys > 0 && !payload_has_keys(&p.path) {
                        let _ = std::fs::remove_file(&p.path);
                        return Err(ReplError::EmptyPrimary {
                            keys,
                            replid: p.full.0,
                            offset: p.full.1,
                        });
                    }
                }
                info!("MASTER <-> REPLICA sync: Loading DB in memory");
                let result = node.load_payload(&p.path);
                let _ = std::fs::remove_file(&p.path);
                if let Err(e) = result {
                    return Err(ReplError::Load(e));
                }
                info!("MASTER <-> REPLICA sync: Finished with success");
                queue.extend(link.loaded()?);
            }
            Action::Continue { new_replid } => {
                info!("Successful partial resynchronization with master.");
                node.partial_resync(new_replid.as_deref());
            }
            Action::Apply { argv, fed } => node.apply(argv, fed),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokv_proto::rdb::{KeyMeta, RdbWriter, ReplAux, WriterOptions};

    fn rdb_file(dir: &Path, name: &str, keys: usize) -> PathBuf {
        let opts = WriterOptions {
            repl: Some(ReplAux {
                stream_db: 0,
                repl_id: Bytes::from("a".repeat(40)),
                offset: 0,
            }),
            ..WriterOptions::default()
        };
        let mut w = RdbWriter::new(Vec::new(), &opts).unwrap();
        if keys > 0 {
            w.select_db(0, keys as u64, 0).unwrap();
            for i in 0..keys {
                w.write_string(format!("k{i}").as_bytes(), &KeyMeta::default(), b"v")
                    .unwrap();
            }
        }
        let bytes = w.finish().unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn payload_key_scan() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!payload_has_keys(&rdb_file(dir.path(), "empty.rdb", 0)));
        assert!(payload_has_keys(&rdb_file(dir.path(), "one.rdb", 1)));
        // Unreadable: counts as holding keys (the loader reports the error).
        std::fs::write(dir.path().join("junk.rdb"), b"NOTREDIS").unwrap();
        assert!(payload_has_keys(&dir.path().join("junk.rdb")));
        assert!(payload_has_keys(&dir.path().join("missing.rdb")));
    }
}
